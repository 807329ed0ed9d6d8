"""A generated event set and the rollups' expected rows, computed in plain Python.

The expectations are written from docs/events.md and the table comments, not from the SQL, so a
test comparing the two checks the SQL against an independent reading of the same definitions.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

Row = dict[str, Any]
START = date(2024, 5, 6)  # a Monday, so week cohorts start on the first day
DAYS = 21
END = START + timedelta(days=DAYS - 1)
QUIET_DAYS = {START + timedelta(days=9), START + timedelta(days=10)}  # no events at all
LATE_DAYS = 3  # late events land in the last days, the trailing window re-run covers
CHURN_DAYS = 5
CURRENCY = "USD"
DIMENSIONS = ("provider_id", "product_id", "course_id")
ZONES = (
    UTC,
    timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(hours=-8)),
    timezone(timedelta(hours=9)),
)
QUERIES = (" Shoes", "shoes ", "SHOES", "hats", "red boots", "")


@dataclass
class _Maker:
    rng: random.Random
    count: int = 0

    def event(self, event_type: str, at: datetime, user: str | None, **fields: Any) -> Row:
        self.count += 1
        anonymous = user is not None and user.startswith("anon")
        row: Row = {
            "event_id": f"ev-{self.count:05d}",
            "event_type": event_type,
            # The same instant written in another zone: the rollups must count its UTC day.
            "timestamp": at.astimezone(self.rng.choice(ZONES)),
            "received_at": at,
            "loaded_at": at + timedelta(minutes=1),
            "source": "test",
            "user_id": None if anonymous else user,
            "anonymous_id": user if anonymous else None,
            "session_id": None if user is None else f"{user}-{at:%m%d}-{self.rng.randint(1, 2)}",
            "platform": self.rng.choice(("web", "ios", "android", None)),
            "properties": {},
        }
        row.update(fields)
        return row

    def random_event(self, at: datetime, user: str | None) -> Row:
        rng = self.rng
        kind = rng.choice(
            ("page_view", "page_view", "login", "signup", "search", "payment", "payment",
             "refund", "review", "api_call", "api_call", "error", "order_created")
        )  # fmt: skip
        provider = f"p{rng.randint(1, 4)}"
        if kind == "payment":
            amount = round(rng.uniform(5, 120), 2)
            return self.event(
                kind, at, user, revenue=amount, currency=rng.choice(("USD", "USD", "EUR", "GBP")),
                properties={"platform_fee": round(amount / 10, 2), "provider_id": provider},
            )  # fmt: skip
        if kind == "refund":
            return self.event(
                kind, at, user, revenue=-round(rng.uniform(1, 40), 2),
                currency=rng.choice(("USD", "EUR")),
            )  # fmt: skip
        if kind == "review":
            return self.event(
                kind, at, user, properties={"rating": rng.randint(1, 5), "provider_id": provider}
            )
        if kind == "search":
            props: dict[str, Any] = {"query": rng.choice(QUERIES)}
            if rng.random() < 0.8:
                props["result_count"] = rng.choice((0, 0, 3, 10, 25))
            return self.event(kind, at, user, properties=props, duration_ms=rng.randint(5, 400))
        if kind == "api_call":
            ok = rng.random() < 0.8
            return self.event(
                kind, at, user, duration_ms=float(rng.randint(10, 3000)), success=ok,
                error_type=None if ok or rng.random() < 0.5 else "timeout",
            )  # fmt: skip
        if kind == "error":
            return self.event(kind, at, user, error_type=rng.choice(("crash", "network")))
        if kind == "order_created":
            props = {"provider_id": provider, "product_id": f"sku-{rng.randint(1, 3)}"}
            if rng.random() < 0.5:
                props["course_id"] = f"c{rng.randint(1, 2)}"
            return self.event(kind, at, user, properties=props)
        return self.event(kind, at, user)


def generate(seed: int = 7) -> tuple[list[Row], list[Row]]:
    """(events loaded before the first rollup run, events that arrive late)."""
    maker = _Maker(random.Random(seed))
    rng = maker.rng
    users = [f"u{i:02d}" for i in range(24)] + [f"anon{i}" for i in range(6)]
    rows: list[Row] = []
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        if day in QUIET_DAYS:
            continue
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        for user in rng.sample(users, 10):
            for _ in range(rng.randint(1, 4)):
                at = midnight + timedelta(seconds=rng.randint(0, 86_399))
                rows.append(maker.random_event(at, user))
        rows.append(maker.event("page_view", midnight + timedelta(hours=3), None))  # no user
        # Around midnight UTC, written in zones where the local day is another one.
        rows.append(
            maker.event("page_view", midnight + timedelta(seconds=86_370), "u01")
            | {"timestamp": (midnight + timedelta(seconds=86_370)).astimezone(ZONES[1])}
        )
        rows.append(
            maker.event("login", midnight + timedelta(seconds=30), "u02")
            | {"timestamp": (midnight + timedelta(seconds=30)).astimezone(ZONES[2])}
        )
    # The same event delivered three times, loaded at different times.
    copies = []
    for original in rng.sample(rows, 12):
        for extra in (1, 2):
            copies.append(original | {"loaded_at": original["loaded_at"] + timedelta(hours=extra)})
    late: list[Row] = []
    for offset in range(DAYS - LATE_DAYS, DAYS):
        day = START + timedelta(days=offset)
        midnight = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        for user in ("u03", "late-user", "anon1"):
            late.append(maker.random_event(midnight, user))
        late.append(maker.event("signup", midnight, "late-user"))
        late.append(maker.event("payment", midnight, "late-user", revenue=30.0, currency="USD"))
        # One of each kind so that every rollup table has something late to count.
        late.append(maker.event("error", midnight, "late-user", error_type="crash"))
        late.append(maker.event("search", midnight, "u03", properties={"query": "Late"}))
        late.append(maker.event("order_created", midnight, "u03", properties={"course_id": "c9"}))
    return rows + copies, late


# -- expected rows ----------------------------------------------------------------------------


def dedupe(events: Iterable[Row]) -> list[Row]:
    first: dict[str, Row] = {}
    for row in sorted(events, key=lambda r: r["loaded_at"]):
        first.setdefault(row["event_id"], row)
    return list(first.values())


def day_of(row: Row) -> date:
    day: date = row["timestamp"].astimezone(UTC).date()
    return day


def user_of(row: Row) -> str | None:
    user: str | None = row["user_id"] or row["anonymous_id"]
    return user


def is_error(row: Row) -> bool:
    return row.get("error_type") is not None or row.get("success") is False


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rc_revenue(row: Row) -> float | None:
    return row.get("revenue") if row.get("currency") == CURRENCY else None


def api_durations(rows: Iterable[Row]) -> list[float]:
    return sorted(r["duration_ms"] for r in rows if r["event_type"] == "api_call")


def first_seen(events: list[Row]) -> dict[str, date]:
    seen: dict[str, date] = {}
    for row in events:
        user = user_of(row)
        if user is not None:
            seen[user] = min(seen.get(user, date.max), day_of(row))
    return seen


def active_days(events: list[Row]) -> dict[str, set[date]]:
    active: dict[str, set[date]] = defaultdict(set)
    for row in events:
        user = user_of(row)
        if user is not None:
            active[user].add(day_of(row))
    return active


def daily_kpis(events: list[Row], start: date, end: date) -> list[Row]:
    unique = dedupe(events)
    by_day: dict[date, list[Row]] = defaultdict(list)
    for row in unique:
        by_day[day_of(row)].append(row)
    seen = first_seen(unique)
    active = active_days(unique)
    out = []
    for day in days(start, end):
        rows = by_day[day]
        users = {user_of(r) for r in rows} - {None}
        money = [r for r in rows if _rc_revenue(r) is not None]
        payments = [r for r in money if r["revenue"] > 0]
        payers = {user_of(r) for r in payments} - {None}

        def window(n: int, day: date = day) -> int:
            return sum(
                1 for d in active.values() if any(day - timedelta(n - 1) <= x <= day for x in d)
            )

        errors = sum(1 for r in rows if is_error(r))
        out.append({
            "date": day,
            "events": len(rows),
            "active_users": len(users),
            "wau": window(7),
            "mau": window(28),
            "new_users": sum(1 for d in seen.values() if d == day),
            "sessions": len({r["session_id"] for r in rows} - {None}),
            "revenue": sum(r["revenue"] for r in money),
            "transactions": len(payments),
            "avg_order_value": _mean([r["revenue"] for r in payments]),
            "platform_fees": sum(r["properties"].get("platform_fee", 0) for r in payments),
            "avg_rating": _mean(
                [r["properties"]["rating"] for r in rows if r["event_type"] == "review"]
            ),
            "error_events": errors,
            "error_rate": errors / len(rows) if rows else None,
            "paying_users": len(payers),
            "conversion_rate": len(payers) / len(users) if users else None,
            "currency": CURRENCY,
        })  # fmt: skip
    return out


def hourly_metrics(events: list[Row], start: date, end: date) -> list[Row]:
    by_hour: dict[datetime, list[Row]] = defaultdict(list)
    for row in dedupe(events):
        by_hour[row["timestamp"].astimezone(UTC).replace(minute=0, second=0, microsecond=0)].append(
            row
        )
    out = []
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    for n in range(24 * ((end - start).days + 1)):
        hour = first + timedelta(hours=n)
        rows = by_hour[hour]
        out.append({
            "hour": hour,
            "events": len(rows),
            "active_users": len({user_of(r) for r in rows} - {None}),
            "errors": sum(1 for r in rows if is_error(r)),
            "revenue": sum(_rc_revenue(r) or 0 for r in rows),
            "currency": CURRENCY,
        })  # fmt: skip
    return out


def revenue_daily(events: list[Row]) -> list[Row]:
    groups: dict[tuple[date, str, str], list[Row]] = defaultdict(list)
    for row in dedupe(events):
        if row.get("revenue"):
            key = (day_of(row), row.get("currency") or "unknown", row["platform"] or "unknown")
            groups[key].append(row)
    out = []
    for (day, currency, platform), rows in groups.items():
        payments = [r for r in rows if r["revenue"] > 0]
        refunds = [r for r in rows if r["revenue"] < 0]
        out.append({
            "date": day, "currency": currency, "platform": platform,
            "revenue": sum(r["revenue"] for r in rows),
            "transactions": len(payments),
            "refunds": len(refunds),
            "refunded": -sum(r["revenue"] for r in refunds),
            "paying_users": len({user_of(r) for r in payments} - {None}),
            "platform_fees": sum(r["properties"].get("platform_fee", 0) for r in payments),
        })  # fmt: skip
    return out


def platform_daily(events: list[Row]) -> list[Row]:
    groups: dict[tuple[date, str], list[Row]] = defaultdict(list)
    for row in dedupe(events):
        groups[(day_of(row), row["platform"] or "unknown")].append(row)
    out = []
    for (day, platform), rows in groups.items():
        errors = sum(1 for r in rows if is_error(r))
        out.append({
            "date": day, "platform": platform,
            "users": len({user_of(r) for r in rows} - {None}),
            "events": len(rows),
            "error_events": errors,
            "success_rate": 1 - errors / len(rows),
        })  # fmt: skip
    return out


def search_daily(events: list[Row]) -> list[Row]:
    groups: dict[tuple[date, str], list[Row]] = defaultdict(list)
    for row in dedupe(events):
        if row["event_type"] == "search":
            query = (row["properties"].get("query") or "").strip(" ").lower()
            groups[(day_of(row), query)].append(row)
    out = []
    for (day, query), rows in groups.items():
        counts = [
            r["properties"]["result_count"] for r in rows if "result_count" in r["properties"]
        ]
        out.append({
            "date": day, "query": query, "searches": len(rows),
            "zero_result_searches": sum(1 for c in counts if c == 0),
            "avg_results": _mean(counts),
        })  # fmt: skip
    return out


def error_daily(events: list[Row]) -> list[Row]:
    groups: dict[tuple[date, str], list[Row]] = defaultdict(list)
    for row in dedupe(events):
        if is_error(row):
            groups[(day_of(row), row.get("error_type") or "unknown")].append(row)
    return [
        {"date": day, "error_type": kind, "events": len(rows),
         "affected_users": len({user_of(r) for r in rows} - {None})}
        for (day, kind), rows in groups.items()
    ]  # fmt: skip


def top_entities_daily(events: list[Row]) -> list[Row]:
    groups: dict[tuple[date, str, str], list[Row]] = defaultdict(list)
    for row in dedupe(events):
        for dimension in DIMENSIONS:
            entity = row["properties"].get(dimension)
            if entity is not None:
                groups[(day_of(row), dimension, str(entity))].append(row)
    out = []
    for (day, dimension, entity), rows in groups.items():
        ratings = [r["properties"]["rating"] for r in rows if r["event_type"] == "review"]
        out.append({
            "date": day, "dimension": dimension, "entity": entity, "events": len(rows),
            "revenue": sum(_rc_revenue(r) or 0 for r in rows),
            "ratings": len(ratings), "avg_rating": _mean(ratings),
        })  # fmt: skip
    return out


def user_first_seen(events: list[Row]) -> list[Row]:
    return [{"user_id": u, "first_seen_date": d} for u, d in first_seen(dedupe(events)).items()]


def user_days(events: list[Row]) -> list[Row]:
    """Each user's active days, with whether the day had a signup and a payment."""
    days_of: dict[tuple[date, str], list[Row]] = defaultdict(list)
    for row in dedupe(events):
        user = user_of(row)
        if user is not None:
            days_of[(day_of(row), user)].append(row)
    return [
        {
            "date": day,
            "user_id": user,
            "signup": any(r["event_type"] == "signup" for r in rows),
            "payment": any((r.get("revenue") or 0) > 0 for r in rows),
        }
        for (day, user), rows in days_of.items()
    ]


def user_milestones(events: list[Row]) -> list[Row]:
    """Each user's first signup day and first payment day (revenue > 0)."""
    firsts: dict[tuple[str, str], date] = {}
    for row in dedupe(events):
        user = user_of(row)
        reached = [
            name
            for name, yes in (
                ("signup", row["event_type"] == "signup"),
                ("payment", (row.get("revenue") or 0) > 0),
            )
            if yes
        ]
        for milestone in reached if user is not None else ():
            key = (user, milestone)
            firsts[key] = min(firsts.get(key, date.max), day_of(row))
    return [
        {"user_id": user, "milestone": milestone, "first_date": day}
        for (user, milestone), day in firsts.items()
    ]


def retention_cohorts(events: list[Row], today: date) -> list[Row]:
    unique = dedupe(events)
    active = active_days(unique)
    out = []
    for period, length, last_index in (("day", 1, 30), ("week", 7, 12)):
        cohorts: dict[date, set[str]] = defaultdict(set)
        for user, first in first_seen(unique).items():
            cohorts[first - timedelta(days=first.weekday() if period == "week" else 0)].add(user)
        for start, members in cohorts.items():
            for index in range(last_index + 1):
                begin = start + timedelta(days=index * length)
                if begin > today:
                    break
                period_days = {begin + timedelta(days=n) for n in range(length)}
                returning = sum(1 for u in members if active[u] & period_days)
                out.append({
                    "period": period, "cohort_start": start, "period_index": index,
                    "cohort_users": len(members), "active_users": returning,
                    "retention": returning / len(members),
                })  # fmt: skip
    return out


def user_lifecycle(events: list[Row], end: date, churn_days: int) -> list[Row]:
    """Walk every day and every user with the stage definitions of sql/tables/user_lifecycle.sql."""
    unique = dedupe(events)
    by_user_day: dict[tuple[str, date], list[Row]] = defaultdict(list)
    for row in unique:
        user = user_of(row)
        if user is not None:
            by_user_day[(user, day_of(row))].append(row)
    users = sorted({user for user, _ in by_user_day})
    first = min(day_of(r) for r in unique)
    out = []
    for user in users:
        stage: str | None = None
        signed_up = paid = False
        last_active: date | None = None
        for day in days(first, end):
            rows = by_user_day.get((user, day), [])
            if rows:
                signed_up |= any(r["event_type"] == "signup" for r in rows)
                paid |= any((r.get("revenue") or 0) > 0 for r in rows)
                new_stage = "customer" if paid else "activated" if signed_up else "lead"
                last_active = day
            elif last_active is not None and (day - last_active).days >= churn_days:
                new_stage = "churned"
            else:
                new_stage = stage or ""
            if new_stage and new_stage != stage:
                out.append({
                    "date": day, "user_id": user, "stage": new_stage,
                    "previous_stage": stage or "new", "signed_up": signed_up, "paid": paid,
                })  # fmt: skip
                stage = new_stage
    return out


def lifecycle_transitions(lifecycle: list[Row]) -> list[Row]:
    counts: dict[tuple[date, str, str], int] = defaultdict(int)
    for row in lifecycle:
        counts[(row["date"], row["previous_stage"], row["stage"])] += 1
    return [
        {"date": d, "from_stage": f, "to_stage": t, "users": n} for (d, f, t), n in counts.items()
    ]
