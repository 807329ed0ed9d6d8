"""The query function over real HTTP: every endpoint, its parameters, tokens, cache, export."""

from __future__ import annotations

import csv
import io
import json
import shutil
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.query import engagement
from functions.rollup.runner import run_rollups
from tests.support import pipeline_data
from tests.support.pipeline_data import PipelineData
from tests.support.rows import event_row
from tests.support.serve import serve_function

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ODD_USER = "o'hara\"; DROP TABLE events; --"
ODD_REVENUE = 7.5

ENDPOINTS = [
    "/v1/realtime",
    "/v1/kpis?days=30",
    "/v1/trends/hourly?hours=24",
    "/v1/revenue?days=30",
    "/v1/platforms?days=7",
    "/v1/funnel?steps=signup,search,payment&days=30",
    "/v1/retention?period=week&periods=8",
    "/v1/lifecycle?days=30",
    "/v1/search?days=7",
    "/v1/errors?days=7",
    "/v1/top?by=provider_id&metric=revenue&days=30&limit=10",
    "/v1/users/u1/engagement",
    "/v1/export?report=kpis&format=json",
]
TABLES = ["events", "daily_kpis", "hourly_metrics", "top_entities_daily", "retention_cohorts"]


@dataclass
class Prepared:
    directory: Path  # holds beacon.duckdb, built by the real pipeline
    data: PipelineData  # every event loaded, as sent
    counts: dict[str, int]  # rows per table before any request


@dataclass
class Served:
    base_url: str
    started: datetime  # before the first request, so before any answer the cache may hold
    data: PipelineData
    kpi_rows: list[dict[str, Any]]


def odd_event(now: datetime) -> dict[str, Any]:
    """One signup by a user whose id is an SQL injection attempt, with revenue to find."""
    return {
        "event_id": "odd-1",
        "event_type": "signup",
        "timestamp": pipeline_data.iso(now - timedelta(minutes=100)),
        "user_id": ODD_USER,
        "platform": "web",
        "revenue": ODD_REVENUE,
        "currency": "USD",
    }


def table_counts(path: Path) -> dict[str, int]:
    warehouse = DuckDBWarehouse(path, read_only=True)
    try:
        return {t: warehouse.query(f"SELECT COUNT(*) AS n FROM {t}").rows[0]["n"] for t in TABLES}
    finally:
        warehouse.close()


def env_for(directory: Path, cache_seconds: int = 30) -> dict[str, str]:
    return {
        "BEACON_DATA_DIR": str(directory),
        "BEACON_ADMIN_TOKENS": f"other-token,{TOKEN}",
        "BEACON_CACHE_SECONDS": str(cache_seconds),
        "BEACON_BACKEND": "local",
    }


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    directory = tmp_path_factory.mktemp("query")
    now = datetime.now(UTC)
    data = pipeline_data.build(directory / "beacon.duckdb", now=now, extra_events=[odd_event(now)])
    return Prepared(directory, data, table_counts(directory / "beacon.duckdb"))


@pytest.fixture(scope="module")
def served(prepared: Prepared, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("query-served")
    shutil.copy(prepared.directory / "beacon.duckdb", directory / "beacon.duckdb")
    today = datetime.now(UTC).date()
    reader = DuckDBWarehouse(directory / "beacon.duckdb", read_only=True)
    kpi_rows = reader.query(
        "SELECT date, events, new_users, revenue FROM daily_kpis WHERE date > @since ORDER BY date",
        {"since": today - timedelta(days=30)},
    ).rows
    reader.close()
    started = datetime.now(UTC)
    with serve_function("query", env_for(directory)) as base_url:
        yield Served(base_url, started, prepared.data, kpi_rows)


def get(served: Served, path: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(
        served.base_url + path, headers=AUTH if headers is None else headers, timeout=10
    )


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_answers_json_with_bytes_billed(served: Served, path: str) -> None:
    response = get(served, path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["bytes_billed"] > 0
    assert response.headers["X-Beacon-Bytes-Billed"] == str(body["bytes_billed"])


@pytest.mark.parametrize("path", ENDPOINTS)
def test_requests_without_a_token_are_401(served: Served, path: str) -> None:
    response = get(served, path, headers={})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_requests_with_a_wrong_token_are_403(served: Served, path: str) -> None:
    for header in (f"Bearer {TOKEN}x", "Bearer other", f"Basic {TOKEN}"):
        response = get(served, path, headers={"Authorization": header})
        assert response.status_code == (401 if header.startswith("Basic") else 403)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/kpis?days=0", "days"),
        ("/v1/kpis?days=abc", "days"),
        ("/v1/kpis?days=100000", "days"),
        ("/v1/kpis?dayz=3", "dayz"),
        ("/v1/trends/hourly?hours=169", "hours"),
        ("/v1/funnel?steps=signup", "steps"),
        ("/v1/funnel?steps=signup,signup", "steps"),
        ("/v1/funnel?steps=a,b,c,d,e,f,g,h,i", "steps"),
        ("/v1/funnel", "steps"),
        ("/v1/retention?period=month", "period"),
        ("/v1/retention?period=week&periods=14", "periods"),
        ("/v1/top?by=Provider", "by"),
        ("/v1/top?by=provider_id&metric=profit", "metric"),
        ("/v1/top?limit=101", "limit"),
        ("/v1/search?limit=-1", "limit"),
        ("/v1/users/u1/engagement?days=401", "days"),
        ("/v1/export?report=nope", "report"),
        ("/v1/export?report=kpis&format=xml", "format"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(served: Served, path: str, field: str) -> None:
    response = get(served, path)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_parameter"
    assert body["field"] == field
    assert body["message"]


def sent_at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["timestamp"])


def user_key(event: dict[str, Any]) -> str:
    """Who did it: the user id once known, else the anonymous id (Beacon's one definition)."""
    return str(event.get("user_id") or event["anonymous_id"])


def test_kpis_report_every_day_of_the_window_and_their_totals(served: Served) -> None:
    body = get(served, "/v1/kpis?days=30").json()
    assert [day["date"] for day in body["days"]] == [str(r["date"]) for r in served.kpi_rows]
    assert {"events", "active_users", "new_users", "revenue", "error_rate"} <= body["days"][
        0
    ].keys()
    assert body["totals"]["events"] == sum(r["events"] for r in served.kpi_rows)
    assert body["totals"]["new_users"] == sum(r["new_users"] for r in served.kpi_rows)
    assert body["totals"]["revenue"] == pytest.approx(sum(r["revenue"] for r in served.kpi_rows))


def test_kpis_count_every_event_sent_on_each_day(served: Served) -> None:
    body = get(served, "/v1/kpis?days=30").json()
    sent_per_day: dict[str, int] = {}
    for event in served.data.events:
        day = sent_at(event).date().isoformat()
        sent_per_day[day] = sent_per_day.get(day, 0) + 1
    assert body["totals"]["events"] > 0
    assert {day["date"]: day["events"] for day in body["days"]} == {
        day["date"]: sent_per_day.get(day["date"], 0) for day in body["days"]
    }


def completed_in_order(events: list[str], steps: list[str]) -> int:
    """How many of the steps one user completed in order (the reference for the funnel)."""
    reached = 0
    for event_type in events:
        if reached < len(steps) and event_type == steps[reached]:
            reached += 1
    return reached


def expected_funnel(events: list[dict[str, Any]], steps: list[str], since: date) -> list[int]:
    """Users reaching each step, from the raw events in Python: each user's events in time
    order, an earlier step first when two share a timestamp (a step may follow at the same
    instant)."""
    journeys: dict[str, list[tuple[datetime, int, str]]] = {}
    for event in events:
        if sent_at(event).date() >= since and event["event_type"] in steps:
            rank = steps.index(event["event_type"])
            journeys.setdefault(user_key(event), []).append(
                (sent_at(event), rank, event["event_type"])
            )
    reached = [completed_in_order([e for _, _, e in sorted(j)], steps) for j in journeys.values()]
    return [sum(n > i for n in reached) for i in range(len(steps))]


def test_funnel_counts_users_completing_steps_in_order(served: Served) -> None:
    steps = ["signup", "search", "payment"]
    body = get(served, "/v1/funnel?steps=" + ",".join(steps) + "&days=30").json()
    since = served.data.now.date() - timedelta(days=29)
    expected = expected_funnel(served.data.events, steps, since)
    assert expected[-1] > 0  # the demo traffic has buyers: the check is not trivially zero
    assert [s["step"] for s in body["steps"]] == steps
    assert [s["users"] for s in body["steps"]] == expected
    assert [s["conversion"] for s in body["steps"]] == [round(n / expected[0], 6) for n in expected]


def realtime_at(events: list[dict[str, Any]], moment: datetime) -> dict[str, float]:
    """The realtime tiles from the raw events in Python, for the 24 hours up to `moment`."""
    recent = [e for e in events if moment - timedelta(hours=24) < sent_at(e) <= moment]
    errors = [e for e in recent if e.get("error_type") or e.get("success") is False]
    return {
        "events": len(recent),
        "active_users": len({user_key(e) for e in recent}),
        "revenue": round(
            sum(e.get("revenue") or 0 for e in recent if e.get("currency", "USD") == "USD"), 2
        ),
        "error_rate": round(len(errors) / len(recent), 6) if recent else 0,
    }


def test_realtime_counts_the_last_24_hours_of_raw_events(served: Served) -> None:
    body = get(served, "/v1/realtime").json()
    answered = datetime.now(UTC)
    # The window moves while the tests run (and an answer may come from the cache), so the
    # answer must be the reference at one instant between the server's start and now: at the
    # start, or just as one of the events in between left the window.
    leaving = [
        sent_at(e) + timedelta(hours=24)
        for e in served.data.events
        if served.started < sent_at(e) + timedelta(hours=24) <= answered
    ]
    candidates = [realtime_at(served.data.events, m) for m in [served.started, *leaving]]
    got = {
        "events": body["events"],
        "active_users": body["active_users"],
        "revenue": round(body["revenue"], 2),
        "error_rate": round(body["error_rate"], 6),
    }
    assert got["events"] > len(pipeline_data.JOURNEYS)  # demo traffic too, not just journeys
    assert got in candidates


def test_engagement_reports_activity_and_a_documented_score(served: Served) -> None:
    body = get(served, "/v1/users/u1/engagement?days=30").json()
    steps = dict(pipeline_data.JOURNEYS)["u1"]
    moments = [served.data.now - timedelta(minutes=minutes) for _, minutes, _ in steps]
    assert body["events"] == len(steps)
    assert body["revenue"] == pytest.approx(sum(r or 0 for _, _, r in steps))
    assert body["sessions"] == len({index // 2 for index in range(len(steps))})
    assert body["active_days"] == len({m.date() for m in moments})
    parts = engagement.components(
        window_days=30,
        days_since_last_seen=(served.data.now.date() - max(moments).date()).days,
        active_days=body["active_days"],
        events=body["events"],
        revenue=body["revenue"],
    )
    assert body["score"] == engagement.score(parts)
    assert 0 <= body["score"] <= 100
    assert body["score_formula"] == engagement.FORMULA


def test_engagement_of_an_unknown_user_is_404(served: Served) -> None:
    response = get(served, "/v1/users/nobody-here/engagement")
    assert response.status_code == 404
    assert response.json()["field"] == "user_id"


def test_csv_export_parses_into_the_same_rows_as_json(served: Served) -> None:
    csv_response = get(served, "/v1/export?report=search&format=csv&days=7")
    json_rows = get(served, "/v1/export?report=search&format=json&days=7").json()["rows"]
    assert csv_response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in csv_response.headers["Content-Disposition"]
    parsed = list(csv.DictReader(io.StringIO(csv_response.text)))
    assert [row["query"] for row in parsed] == [row["query"] for row in json_rows]
    assert [int(row["searches"]) for row in parsed] == [row["searches"] for row in json_rows]


def test_responses_are_cached_with_a_matching_cache_control(served: Served) -> None:
    first = get(served, "/v1/lifecycle?days=9")
    second = get(served, "/v1/lifecycle?days=9")
    assert first.headers["Cache-Control"] == "private, max-age=30"
    assert first.headers["X-Beacon-Cache"] == "miss"
    assert second.headers["X-Beacon-Cache"] == "hit"
    assert second.headers["Cache-Control"].startswith("private, max-age=")
    assert 0 <= int(second.headers["Cache-Control"].split("=")[1]) <= 30
    assert second.json() == first.json()


def test_errors_and_denials_are_never_cached(served: Served) -> None:
    assert get(served, "/v1/kpis?days=0").headers["Cache-Control"] == "no-store"
    assert get(served, "/v1/kpis", headers={}).headers["Cache-Control"] == "no-store"


def test_dashboard_page_and_assets_load_without_a_token(served: Served) -> None:
    page = get(served, "/", headers={})
    assert page.status_code == 200
    assert "text/html" in page.headers["Content-Type"]
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for asset in ("/assets/dashboard.js", "/assets/dashboard.css"):
        assert get(served, asset, headers={}).status_code == 200
    assert get(served, "/assets/../main.py", headers={}).status_code == 404
    assert get(served, "/healthz", headers={}).json() == {"status": "ok"}


def test_only_get_is_allowed(served: Served) -> None:
    response = requests.post(served.base_url + "/v1/kpis", headers=AUTH, timeout=10)
    assert response.status_code == 405


INJECTIONS = [
    "/v1/top?by=x')%20OR%201=1%20--",
    "/v1/top?by=provider_id;DROP%20TABLE%20events",
    "/v1/top?by=provider_id&metric=revenue'%20OR%20'1'='1",
    "/v1/funnel?steps=signup',search,payment",
    "/v1/funnel?steps=signup,search%22)%20OR%201=1--",
    "/v1/kpis?days=1;DROP%20TABLE%20daily_kpis",
    "/v1/trends/hourly?hours=1%20OR%201=1",
    "/v1/retention?period=week'--&periods=2",
    "/v1/search?limit=1;DELETE%20FROM%20search_daily",
    "/v1/export?report=kpis'--&format=csv",
    "/v1/export?report=kpis&format=csv';--",
    "/v1/users/u1'%20OR%20'1'='1/engagement",
    "/v1/users/x%22);DROP%20TABLE%20events;--/engagement",
]


def test_injection_attempts_are_refused_or_treated_as_data(
    prepared: Prepared, tmp_path: Path
) -> None:
    shutil.copy(prepared.directory / "beacon.duckdb", tmp_path / "beacon.duckdb")
    statuses = {}
    with serve_function("query", env_for(tmp_path)) as base_url:
        for path in INJECTIONS:
            statuses[path] = requests.get(base_url + path, headers=AUTH, timeout=10).status_code
        quoted = urllib.parse.quote(ODD_USER, safe="")
        odd = requests.get(f"{base_url}/v1/users/{quoted}/engagement", headers=AUTH, timeout=10)
    # User ids are data: a hostile one names no user (404); the others never pass validation.
    assert all(status in {400, 404} for status in statuses.values()), statuses
    assert all(statuses[p] == 404 for p in INJECTIONS if p.startswith("/v1/users/"))
    assert odd.status_code == 200
    assert odd.json()["user_id"] == ODD_USER
    assert odd.json()["revenue"] == pytest.approx(ODD_REVENUE)
    assert table_counts(tmp_path / "beacon.duckdb") == prepared.counts


def test_query_bytes_are_recorded_in_query_costs(prepared: Prepared, tmp_path: Path) -> None:
    shutil.copy(prepared.directory / "beacon.duckdb", tmp_path / "beacon.duckdb")
    with serve_function("query", env_for(tmp_path, cache_seconds=0)) as base_url:
        answered = [
            requests.get(base_url + path, headers=AUTH, timeout=10).json()["bytes_billed"]
            for path in ("/v1/kpis", "/v1/revenue", "/v1/kpis")
        ]
    warehouse = DuckDBWarehouse(tmp_path / "beacon.duckdb", read_only=True)
    rows = warehouse.query(
        "SELECT endpoint, bytes_billed FROM query_costs WHERE DATE(ts) >= @day",
        {"day": datetime.now(UTC).date() - timedelta(days=1)},
    ).rows
    warehouse.close()
    assert sorted(r["endpoint"] for r in rows) == ["kpis", "kpis", "revenue", "revenue"]
    assert sum(r["bytes_billed"] for r in rows) == sum(answered)


def strict_json(text: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_every_answer_is_strict_json_even_over_sums_that_overflow(tmp_path: Path) -> None:
    # Rows from before ingest bounded magnitudes: payments of 1e308 on three days are finite
    # each day and sum to Infinity over the window.
    now = datetime.now(UTC)
    warehouse = DuckDBWarehouse(tmp_path / "beacon.duckdb")
    warehouse.ensure_tables()
    rows = [
        event_row(
            now - timedelta(days=i, minutes=30),
            "payment",
            user_id=f"rich-{i}",
            revenue=1e308,
            currency="USD",
            duration_ms=1e300,
            properties={"platform_fee": 1e308, "provider_id": "p1"},
        )
        for i in range(3)
    ]
    warehouse.insert_rows("events", rows)
    run_rollups(warehouse, start=now.date() - timedelta(days=3), end=now.date(), churn_days=30)
    warehouse.close()
    with serve_function("query", env_for(tmp_path, cache_seconds=0)) as base_url:
        for path in ENDPOINTS:
            path = path.replace("/users/u1/", "/users/rich-0/")
            response = requests.get(base_url + path, headers=AUTH, timeout=10)
            assert response.status_code == 200, path
            strict_json(response.text)
