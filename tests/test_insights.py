"""GET /v1/insights over real HTTP against figures computed here from the raw events."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.local.duckdb_warehouse import DuckDBWarehouse
from tests.support.rows import event_row
from tests.support.serve import serve_function

TOKEN = "insights-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TODAY = datetime.now(UTC).date()
START = TODAY - timedelta(days=12)
END = TODAY - timedelta(days=1)
QUIET_DAY = TODAY - timedelta(days=6)  # no event at all: every series reads zero here
PLATFORMS = ("ios", "android", "web", "macos", "linux", "windows")
CATEGORIES = ("plumbing", "cleaning", "moving")
Event = dict[str, Any]


def build_events() -> list[Event]:
    """Job, search and payment events over START..END with duplicates, gaps and odd values."""
    rng = random.Random(14)
    events: list[Event] = []
    for day_offset in range((END - START).days + 1):
        day = START + timedelta(days=day_offset)
        if day == QUIET_DAY:
            continue
        for _ in range(rng.randint(20, 40)):
            at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(
                seconds=rng.randrange(86_400)
            )
            kind = rng.choice(("job_created", "job_created", "search", "payment"))
            user = f"u{rng.randrange(25)}"
            fields: dict[str, Any] = {
                "platform": rng.choices(PLATFORMS, weights=(8, 6, 5, 2, 1, 1))[0],
                "app_version": rng.choice(("1.0.0", "1.1.0", None)),
                "os": rng.choice(("iOS", "Android", "Mac OS X")),
                "locale": rng.choice(("en-GB", "de-DE")),
                "properties": {"category": rng.choice(CATEGORIES), "tier": rng.choice("ab")},
            }
            if rng.random() < 0.2:
                fields["anonymous_id"] = f"a{rng.randrange(10)}"  # not signed in
            else:
                fields["user_id"] = user
            if kind in {"search", "job_created"}:
                fields["duration_ms"] = float(rng.randrange(5, 3000))
            if kind == "payment":
                fields["revenue"] = float(rng.randrange(5, 200))
                fields["currency"] = rng.choice(("USD", "USD", "EUR"))
            events.append(event_row(at, kind, **fields))
    for original in rng.sample(events, 30):  # delivered twice, the copy loaded later
        events.append({**original, "loaded_at": original["loaded_at"] + timedelta(seconds=9)})
    return events


def env_for(directory: Path, **settings: str) -> dict[str, str]:
    """The query function's environment over the DuckDB file in `directory`."""
    base = {"BEACON_DATA_DIR": str(directory), "BEACON_ADMIN_TOKENS": TOKEN}
    return {**base, "BEACON_BACKEND": "local", **settings}


@dataclass
class Served:
    base_url: str
    unique: list[Event]  # the events as the warehouse should count them: one per event_id


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = Path(tmp_path_factory.mktemp("insights"))
    events = build_events()
    warehouse = DuckDBWarehouse(directory / "beacon.duckdb")
    warehouse.ensure_tables()
    warehouse.insert_rows("events", events)  # no row ids: the copies are stored, reads dedupe
    warehouse.close()
    first: dict[str, Event] = {}
    for event in sorted(events, key=lambda e: e["loaded_at"]):
        first.setdefault(event["event_id"], event)
    with serve_function("query", env_for(directory, BEACON_CACHE_SECONDS="0")) as base_url:
        yield Served(base_url, list(first.values()))


def ask(served: Served, query: str) -> requests.Response:
    return requests.get(f"{served.base_url}/v1/insights?{query}", headers=AUTH, timeout=20)


def answer(served: Served, query: str) -> dict[str, Any]:
    response = ask(served, query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


RANGE = f"start={START}&end={END}"


def days() -> list[date]:
    return [START + timedelta(days=n) for n in range((END - START).days + 1)]


def stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def user_of(event: Event) -> str | None:
    return event.get("user_id") or event.get("anonymous_id")


def by_day(events: list[Event], figure: Callable[[list[Event]], Any]) -> dict[str, Any]:
    grouped: dict[date, list[Event]] = defaultdict(list)
    for event in events:
        grouped[event["timestamp"].date()].append(event)
    return {stamp(day): figure(grouped.get(day, [])) for day in days()}


def points(series: dict[str, Any]) -> dict[str, Any]:
    return {point["t"]: point["value"] for point in series["points"]}


def of_type(served: Served, kind: str) -> list[Event]:
    return [e for e in served.unique if e["event_type"] == kind]


def test_events_per_day_count_each_event_once_with_a_zero_on_the_quiet_day(
    served: Served,
) -> None:
    body = answer(served, f"event=job_created&{RANGE}")
    assert [s["key"] for s in body["series"]] == ["all"]
    series = body["series"][0]
    expected = by_day(of_type(served, "job_created"), len)
    assert points(series) == expected
    assert points(series)[stamp(QUIET_DAY)] == 0
    assert series["total"] == len(of_type(served, "job_created"))
    assert body["bytes_billed"] > 0


def test_users_per_day_and_in_total_are_distinct_users(served: Served) -> None:
    body = answer(served, f"event=job_created&measure=users&{RANGE}")
    jobs = of_type(served, "job_created")
    series = body["series"][0]
    assert points(series) == by_day(jobs, lambda day: len({user_of(e) for e in day}))
    assert series["total"] == len({user_of(e) for e in jobs})  # not the sum of the days


def test_breakdown_by_platform_with_a_limit_folds_the_rest_into_other(served: Served) -> None:
    body = answer(served, f"event=job_created&breakdown=platform&limit=3&{RANGE}")
    jobs = of_type(served, "job_created")
    totals = defaultdict(int)
    for event in jobs:
        totals[event["platform"]] += 1
    top = sorted(totals, key=lambda p: (-totals[p], p))[:3]
    assert [s["key"] for s in body["series"]] == [*top, "other"]
    assert body["series"][-1]["other"] is True
    for series in body["series"][:3]:
        mine = [e for e in jobs if e["platform"] == series["key"]]
        assert points(series) == by_day(mine, len)
        assert series["total"] == totals[series["key"]]
    rest = [e for e in jobs if e["platform"] not in top]
    assert points(body["series"][-1]) == by_day(rest, len)
    assert body["series"][-1]["total"] == len(rest)


def test_other_counts_its_users_once_across_the_folded_values(served: Served) -> None:
    body = answer(served, f"event=job_created&measure=users&breakdown=platform&limit=2&{RANGE}")
    jobs = of_type(served, "job_created")
    kept = {s["key"] for s in body["series"] if not s["other"]}
    rest = [e for e in jobs if e["platform"] not in kept]
    other = body["series"][-1]
    assert other["total"] == len({user_of(e) for e in rest})


def test_property_breakdown_and_repeated_filters(served: Served) -> None:
    query = (
        f"event=job_created&breakdown=properties.category&filter=platform=ios"
        f"&filter=platform=android&filter=properties.tier=a&{RANGE}"
    )
    body = answer(served, query)
    chosen = [
        e
        for e in of_type(served, "job_created")
        if e["platform"] in {"ios", "android"} and e["properties"]["tier"] == "a"
    ]
    assert {s["key"] for s in body["series"]} == {e["properties"]["category"] for e in chosen}
    for series in body["series"]:
        mine = [e for e in chosen if e["properties"]["category"] == series["key"]]
        assert points(series) == by_day(mine, len)
    assert body["filters"] == ["platform=ios", "platform=android", "properties.tier=a"]


def test_app_version_breakdown_keeps_events_without_one_as_a_null_key(served: Served) -> None:
    body = answer(served, f"event=search&breakdown=context.app_version&{RANGE}")
    searches = of_type(served, "search")
    totals = {s["key"]: s["total"] for s in body["series"]}
    expected: dict[str | None, int] = defaultdict(int)
    for event in searches:
        expected[event.get("app_version")] += 1
    assert totals == dict(expected)


def test_sum_and_average_of_revenue_count_the_reporting_currency_only(served: Served) -> None:
    payments = [e for e in of_type(served, "payment") if e["currency"] == "USD"]
    total = answer(served, f"event=payment&measure=sum:revenue&{RANGE}")
    assert total["currency"] == "USD"
    got = points(total["series"][0])
    want = by_day(payments, lambda day: sum(e["revenue"] for e in day))
    assert got == pytest.approx(want)
    mean = answer(served, f"event=payment&measure=avg:revenue&{RANGE}")
    got = points(mean["series"][0])
    for t, value in by_day(payments, lambda d: [e["revenue"] for e in d]).items():
        assert got[t] == (pytest.approx(sum(value) / len(value)) if value else None)


def test_p95_of_duration_by_week_lies_near_the_exact_quantile(served: Served) -> None:
    body = answer(served, f"event=search&measure=p95:duration_ms&interval=week&{RANGE}")
    series = body["series"][0]
    weeks: dict[str, list[float]] = defaultdict(list)
    for event in of_type(served, "search"):
        day = event["timestamp"].date()
        weeks[stamp(day - timedelta(days=day.weekday()))].append(event["duration_ms"])
    assert set(points(series)) == {
        stamp(START - timedelta(days=START.weekday()) + timedelta(weeks=n))
        for n in range(len(points(series)))
    }
    for t, value in points(series).items():
        assert near_quantile(value, sorted(weeks[t]), 0.95)


def near_quantile(value: float | None, values: list[float], q: float) -> bool:
    """Within two ranks of the exact quantile: APPROX_QUANTILES' own error is about 1 %."""
    if not values:
        return value is None
    position = q * (len(values) - 1)
    low = values[max(math.floor(position) - 2, 0)]
    high = values[min(math.ceil(position) + 2, len(values) - 1)]
    return value is not None and low <= value <= high


def test_hourly_interval_has_every_hour_of_the_range(served: Served) -> None:
    body = answer(served, f"event=search&interval=hour&start={QUIET_DAY}&end={QUIET_DAY}")
    series = body["series"]
    assert len(series) <= 1  # nothing happened that day: no series, or one of zeros
    for one in series:
        assert len(one["points"]) == 24 and all(p["value"] == 0 for p in one["points"])


def test_an_event_type_nobody_sent_answers_no_series(served: Served) -> None:
    assert answer(served, f"event=never_sent&{RANGE}")["series"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "event"),
        ("event=Job-Created", "event"),
        ("event=search&measure=median", "measure"),
        ("event=search&measure=sum:user_id", "measure"),
        ("event=search&interval=month", "interval"),
        ("event=search&interval=hour&days=32", "days"),
        ("event=search&days=401", "days"),
        ("event=search&start=2024-02-30&end=2024-03-01", "start"),
        ("event=search&start=2024-03-01", "end"),
        ("event=search&days=3&start=2024-03-01&end=2024-03-02", "days"),
        ("event=search&breakdown=country", "breakdown"),
        ("event=search&breakdown=properties.Bad-Key", "breakdown"),
        ("event=search&breakdown=properties.a')%20OR%201=1--", "breakdown"),
        ("event=search&filter=platform", "filter"),
        ("event=search&filter=user_id=u1", "filter"),
        ("event=search&filter=properties.a=1&filter=properties.b=1&filter=properties.c=1"
         "&filter=properties.d=1", "filter"),
        ("event=search&limit=0", "limit"),
        ("event=search&limit=51", "limit"),
        ("event=search&event=payment", "event"),
        ("event=search&colour=red", "colour"),
    ],
)  # fmt: skip
def test_bad_questions_are_400_naming_the_field(served: Served, query: str, field: str) -> None:
    response = ask(served, query)
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["error"], body["field"]) == ("invalid_parameter", field)
    assert body["message"]


def test_a_filter_value_is_data_never_sql(served: Served) -> None:
    hostile = "ios' OR '1'='1"
    body = answer(served, f"event=job_created&filter=platform={hostile}&{RANGE}")
    assert body["series"] == []


def test_without_a_token_insights_are_401(served: Served) -> None:
    response = requests.get(f"{served.base_url}/v1/insights?event=search", timeout=10)
    assert response.status_code == 401


def test_a_question_over_the_byte_cap_is_400_before_it_runs(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouse(tmp_path / "beacon.duckdb")
    warehouse.ensure_tables()
    now = datetime.now(UTC)
    warehouse.insert_rows("events", [event_row(now, "search") for _ in range(200)])
    warehouse.close()
    with serve_function("query", env_for(tmp_path, BEACON_MAX_BYTES_BILLED="1000")) as base_url:
        response = requests.get(f"{base_url}/v1/insights?event=search", headers=AUTH, timeout=20)
        assert response.status_code == 400, response.text
        body = response.json()
        assert (body["error"], body["field"]) == ("over_byte_cap", "days")
        assert "1,000" in body["message"] and "BEACON_MAX_BYTES_BILLED" in body["message"]
