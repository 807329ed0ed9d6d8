"""Retention drops exactly the partitions past their cutoff; a dry run only lists them."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import requests

from functions.catalogue import tables
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.rollup.retention import run_retention
from functions.settings import Settings
from tests.support.rows import event_row
from tests.support.serve import serve_function

TODAY = date(2024, 5, 6)
SETTINGS = Settings(retention_days=30, rollup_retention_days=90)


def noon(days_ago: int) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(12), tzinfo=UTC)


def fill(warehouse: DuckDBWarehouse, days_ago: list[int]) -> None:
    for age in days_ago:
        at = noon(age)
        event = event_row(at)
        bad = {"received_at": at, "request_id": "r", "reason": "invalid_event", "payload": "{}"}
        cost = {"ts": at, "endpoint": "kpis", "bytes_billed": 1}
        seen = {"user_id": f"u{age}", "first_seen_date": at.date(), "updated_at": at}
        warehouse.insert_rows("events", [event, event | {"event_id": uuid.uuid4().hex}])
        warehouse.insert_rows("bad_events", [bad])
        warehouse.insert_rows("query_costs", [cost])
        warehouse.insert_rows("user_first_seen", [seen])


def ages(warehouse: DuckDBWarehouse, table: str, day_sql: str) -> list[int]:
    rows = warehouse.query(f"SELECT DISTINCT {day_sql} AS d FROM {table} ORDER BY d DESC").rows
    return [(TODAY - row["d"]).days for row in rows]


AGES = [0, 29, 30, 31, 89, 90, 91, 400]


def test_retention_removes_exactly_the_partitions_before_each_cutoff(warehouse):
    fill(warehouse, AGES)
    summary = run_retention(warehouse, SETTINGS, today=TODAY, dry_run=False)
    assert ages(warehouse, "events", "DATE(`timestamp`)") == [0, 29, 30]
    assert ages(warehouse, "bad_events", "DATE(received_at)") == [0, 29, 30]
    assert ages(warehouse, "query_costs", "DATE(ts)") == [0, 29, 30, 31, 89, 90]
    # First-seen days are not ages of data: a user first seen long ago is still a user.
    assert ages(warehouse, "user_first_seen", "first_seen_date") == AGES
    assert summary["tables"]["events"]["deleted"] == 2 * 5
    assert summary["tables"]["events"]["days"][str(TODAY - timedelta(days=31))] == 2


def test_retention_dry_run_lists_days_and_rows_but_removes_nothing(warehouse):
    fill(warehouse, AGES)
    summary = run_retention(warehouse, SETTINGS, today=TODAY, dry_run=True)
    events = summary["tables"]["events"]
    assert events["cutoff"] == (TODAY - timedelta(days=30)).isoformat()
    assert sorted(events["days"]) == [
        (TODAY - timedelta(days=age)).isoformat() for age in (400, 91, 90, 89, 31)
    ]
    assert events["rows"] == 10
    assert "deleted" not in events
    assert summary["tables"]["query_costs"]["rows"] == 2
    assert ages(warehouse, "events", "DATE(`timestamp`)") == AGES


def test_raw_tables_keep_retention_days_and_per_user_state_is_never_aged_out():
    classes = {name: entry.retention for name, entry in tables().items()}
    assert {name for name, kind in classes.items() if kind == "raw"} == {"events", "bad_events"}
    assert {name for name, kind in classes.items() if kind == "keep"} == {
        "user_first_seen",
        "user_milestones",
    }


def test_retention_job_over_http_dry_run_and_bad_body(tmp_path):
    env = {"BEACON_BACKEND": "local", "BEACON_DATA_DIR": str(tmp_path / "data")}
    with serve_function("rollup", env) as base_url:
        url = base_url + "/v1/jobs/retention"
        dry = requests.post(url, json={"dry_run": True}, timeout=60)
        bad = requests.post(url, json={"dry_run": 1}, timeout=60)
    assert dry.status_code == 200
    assert dry.json()["dry_run"] is True
    assert set(dry.json()["tables"]) == {
        name for name, entry in tables().items() if entry.retention != "keep"
    }
    assert bad.status_code == 400
