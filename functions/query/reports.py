"""The dashboard's reports: validate parameters, run named SQL from sql/queries/, shape JSON.

Each report reads its parameters first, so a bad request is answered 400 before any query
runs. Every query goes through `Queries`, which adds up the bytes billed for the response and
hands each query's bytes to the cost recorder. Shaping is plain Python on the returned rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.query import engagement, params
from functions.query.values import day_window, hour_window, json_row, week_start
from functions.sqlfiles import load_sql
from functions.warehouse import Warehouse

Args = Mapping[str, str]
Body = dict[str, Any]

MAX_ROLLUP_DAYS = 730  # rollups are kept five years; two are plenty for one dashboard view
MAX_RAW_DAYS = 400  # raw events are kept BEACON_RETENTION_DAYS (400) days


class NotFound(LookupError):
    """The request is well formed but names nothing (a user without events)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Queries:
    """Runs sql/queries/NAME.sql with @params for one response, adding up bytes billed."""

    def __init__(
        self,
        warehouse: Warehouse,
        endpoint: str,
        on_query: Callable[[str, int], None] = lambda endpoint, bytes_billed: None,
        *,
        now: datetime | None = None,
        currency: str = "USD",
    ) -> None:
        self.warehouse = warehouse
        self.endpoint = endpoint
        self.on_query = on_query
        self.now = now or datetime.now(UTC)
        self.currency = currency
        self.bytes_billed = 0

    def estimate(self, name: str, values: Mapping[str, Any]) -> int:
        """The bytes sql/queries/NAME.sql would read, without running it."""
        return self.warehouse.estimate_bytes(load_sql(f"queries/{name}"), values)

    def rows(self, name: str, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        result = self.warehouse.query(load_sql(f"queries/{name}"), values)
        self.bytes_billed += result.bytes_billed
        self.on_query(self.endpoint, result.bytes_billed)
        return [json_row(row) for row in result.rows]


@dataclass(frozen=True)
class Report:
    name: str
    run: Callable[[Queries, Args], Body]
    table: Callable[[Body], list[dict[str, Any]]]  # the rows /v1/export writes


def _days(args: Args, default: int, high: int = MAX_ROLLUP_DAYS) -> int:
    return params.integer(args, "days", default, 1, high)


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def realtime(q: Queries, args: Args) -> Body:
    params.reject_unknown(args, frozenset())
    since = q.now - timedelta(hours=24)
    values = {"now": q.now, "since": since, "today": q.now.date(), "currency": q.currency}
    row = q.rows("realtime", values)[0]
    return {"window_hours": 24, "as_of": json_row({"t": q.now})["t"], **row}


def kpi_totals(days: list[dict[str, Any]]) -> Body:
    """Window totals of daily KPI rows; distinct-user counts cannot be added, so they average."""

    def total(key: str) -> float:
        return sum(day.get(key) or 0 for day in days)

    gross = sum((day.get("avg_order_value") or 0) * day["transactions"] for day in days)
    return {
        "events": int(total("events")),
        "avg_active_users": round(_ratio(total("active_users"), len(days)), 2),
        "new_users": int(total("new_users")),
        "sessions": int(total("sessions")),
        "revenue": round(total("revenue"), 2),
        "transactions": int(total("transactions")),
        "avg_order_value": round(_ratio(gross, total("transactions")), 2),
        "error_events": int(total("error_events")),
        "error_rate": round(_ratio(total("error_events"), total("events")), 6),
        "conversion_rate": round(_ratio(total("paying_users"), total("active_users")), 6),
        "mau": days[-1]["mau"] if days else 0,
    }


def kpis(q: Queries, args: Args) -> Body:
    params.reject_unknown(args, frozenset({"days"}))
    days = q.rows("kpis", day_window(q.now.date(), _days(args, 30)))
    return {"days": days, "totals": kpi_totals(days)}


def hourly(q: Queries, args: Args) -> Body:
    params.reject_unknown(args, frozenset({"hours"}))
    hours = params.integer(args, "hours", 24, 1, 168)
    return {"hours": q.rows("hourly", hour_window(q.now, hours))}


def revenue(q: Queries, args: Args) -> Body:
    params.reject_unknown(args, frozenset({"days"}))
    window = day_window(q.now.date(), _days(args, 30))
    days = q.rows("revenue_by_day", {**window, "currency": q.currency})
    by_platform = q.rows("revenue_by_platform", window)
    totals = {
        key: round(sum(day[key] or 0 for day in days), 2)
        for key in ("revenue", "transactions", "refunds", "refunded", "platform_fees")
    }
    return {"currency": q.currency, "days": days, "by_platform": by_platform, "totals": totals}


def platforms(q: Queries, args: Args) -> Body:
    params.reject_unknown(args, frozenset({"days"}))
    days = _days(args, 7)
    return {"platforms": q.rows("platforms", {**day_window(q.now.date(), days), "days": days})}


def funnel_steps(names: list[str], counts: list[int]) -> list[Body]:
    """Conversion from the first step and from the previous one, per step."""
    first = counts[0] if counts else 0
    shaped = []
    for index, (step, users) in enumerate(zip(names, counts, strict=True)):
        previous = counts[index - 1] if index else users
        shaped.append(
            {
                "step": step,
                "users": users,
                "conversion": round(_ratio(users, first), 6),
                "from_previous": round(_ratio(users, previous), 6),
            }
        )
    return shaped


def funnel(q: Queries, args: Args) -> Body:
    params.reject_unknown(args, frozenset({"steps", "days"}))
    names = params.steps(args)
    days = _days(args, 30, MAX_RAW_DAYS)
    return {"days": days, "steps": funnel_counts(q, names, day_window(q.now.date(), days))}


def funnel_counts(q: Queries, names: list[str], window: Mapping[str, Any]) -> list[Body]:
    """The funnel of `names` (validated event types) over window's @start_date..@end_date."""
    padded = names + [""] * (params.MAX_FUNNEL_STEPS - len(names))  # '' matches no event type
    values: dict[str, Any] = {f"step_{i + 1}": step for i, step in enumerate(padded)}
    rows = q.rows("funnel", {**values, **window})
    return funnel_steps(names, [int(row["users"]) for row in rows[: len(names)]])


def retention_cohorts(rows: list[dict[str, Any]], periods: int) -> list[Body]:
    """Rows of (cohort_start, period_index, ...) as one heat-map row per cohort."""
    cohorts: dict[str, Body] = {}
    for row in rows:
        cohort = cohorts.setdefault(
            row["cohort_start"],
            {
                "cohort_start": row["cohort_start"],
                "cohort_users": row["cohort_users"],
                "retention": [None] * periods,
                "active_users": [None] * periods,
            },
        )
        cohort["retention"][row["period_index"]] = row["retention"]
        cohort["active_users"][row["period_index"]] = row["active_users"]
    for cohort in cohorts.values():
        # Periods that have not started have no row; trim them rather than show them as 0 %.
        while cohort["retention"] and cohort["retention"][-1] is None:
            cohort["retention"].pop()
            cohort["active_users"].pop()
    return list(cohorts.values())


def retention(q: Queries, args: Args) -> Body:
    params.reject_unknown(args, frozenset({"period", "periods"}))
    period = params.choice(args, "period", ("week", "day"), "week")
    # The rollup keeps week indexes 0-12 and day indexes 0-30.
    periods = params.integer(args, "periods", 8, 1, 13 if period == "week" else 31)
    today = q.now.date()
    if period == "week":
        start = week_start(today) - timedelta(weeks=periods - 1)
    else:
        start = today - timedelta(days=periods - 1)
    values = {"start_date": start, "end_date": today, "period": period, "periods": periods}
    rows = q.rows("retention", values)
    return {"period": period, "periods": periods, "cohorts": retention_cohorts(rows, periods)}


def lifecycle(q: Queries, args: Args) -> Body:
    params.reject_unknown(args, frozenset({"days"}))
    rows = q.rows("lifecycle", day_window(q.now.date(), _days(args, 30)))
    flows = [{"from": r["from_stage"], "to": r["to_stage"], "users": r["users"]} for r in rows]
    entered: dict[str, int] = {}
    for flow in flows:
        entered[flow["to"]] = entered.get(flow["to"], 0) + int(flow["users"])
    return {"flows": flows, "entered": entered}


def search(q: Queries, args: Args) -> Body:
    params.reject_unknown(args, frozenset({"days", "limit"}))
    window = day_window(q.now.date(), _days(args, 7))
    limit = params.integer(args, "limit", 20, 1, 100)
    return {"queries": q.rows("search", {**window, "limit": limit})}


def errors(q: Queries, args: Args) -> Body:
    params.reject_unknown(args, frozenset({"days", "limit"}))
    window = day_window(q.now.date(), _days(args, 7))
    limit = params.integer(args, "limit", 20, 1, 100)
    return {
        "types": q.rows("errors_by_type", {**window, "limit": limit}),
        "days": q.rows("errors_by_day", window),
    }


def top(q: Queries, args: Args) -> Body:
    params.reject_unknown(args, frozenset({"by", "metric", "days", "limit"}))
    by = params.name(args, "by", required=False, default="provider_id")
    metric = params.choice(args, "metric", ("revenue", "events", "rating"), "revenue")
    window = day_window(q.now.date(), _days(args, 30))
    limit = params.integer(args, "limit", 10, 1, 100)
    values = {**window, "by": by, "metric": metric, "limit": limit}
    return {"by": by, "metric": metric, "entities": q.rows("top_entities", values)}


def user_engagement(q: Queries, user: str, args: Args) -> Body:
    params.reject_unknown(args, frozenset({"days"}))
    user_id = params.user_id(user)
    days = _days(args, 30, MAX_RAW_DAYS)
    values = {**day_window(q.now.date(), days), "user_id": user_id, "currency": q.currency}
    row = q.rows("user_engagement", values)[0]
    if not row["events"]:
        raise NotFound("user_id", f"no events of this user in the last {days} days")
    return {"user_id": user_id, **engagement.engagement(row, days)}


def _one_row(body: Body) -> list[dict[str, Any]]:
    return [{key: value for key, value in body.items() if not isinstance(value, list | dict)}]


def _retention_table(body: Body) -> list[dict[str, Any]]:
    return [
        {
            "cohort_start": cohort["cohort_start"],
            "cohort_users": cohort["cohort_users"],
            "period_index": index,
            "active_users": cohort["active_users"][index],
            "retention": value,
        }
        for cohort in body["cohorts"]
        for index, value in enumerate(cohort["retention"])
    ]


def _key(name: str) -> Callable[[Body], list[dict[str, Any]]]:
    return lambda body: list(body[name])


REPORTS: dict[str, Report] = {
    report.name: report
    for report in (
        Report("realtime", realtime, _one_row),
        Report("kpis", kpis, _key("days")),
        Report("trends/hourly", hourly, _key("hours")),
        Report("revenue", revenue, _key("days")),
        Report("platforms", platforms, _key("platforms")),
        Report("funnel", funnel, _key("steps")),
        Report("retention", retention, _retention_table),
        Report("lifecycle", lifecycle, _key("flows")),
        Report("search", search, _key("queries")),
        Report("errors", errors, _key("types")),
        Report("top", top, _key("entities")),
    )
}
