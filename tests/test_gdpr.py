"""GDPR erasure leaves no row of the user anywhere and other users' figures as they were."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from functions import runtime
from functions.catalogue import tables
from functions.local.cli import main
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.rollup.gdpr import (
    affected_ranges,
    delete_user,
    erased_tables,
    export_user,
)
from functions.rollup.runner import run_rollups
from functions.settings import Settings
from tests.support.rows import event_row
from tests.support.serve import serve_function

NOW = datetime(2024, 5, 6, 18, 0, tzinfo=UTC)
FIRST_DAY = date(2024, 5, 1)
SETTINGS = Settings(churn_days=30)


def event(day: date, hour: int, event_type: str = "page_view", **fields: Any) -> dict[str, Any]:
    return event_row(datetime.combine(day, time(hour), tzinfo=UTC), event_type, **fields)


def populate(warehouse: DuckDBWarehouse) -> None:
    """Alice (by user_id, and by anonymous_id before she logged in), Bob and Carol, 5 days."""
    rows = []
    for offset in range(5):
        day = FIRST_DAY + timedelta(days=offset)
        rows.append(event(day, 9, user_id="bob", anonymous_id="dev-b"))
        rows.append(event(day, 10, "payment", user_id="bob", revenue=20.0, currency="USD"))
        rows.append(event(day, 11, user_id="carol"))
        if offset in (1, 3):
            rows.append(event(day, 8, anonymous_id="alice"))
            rows.append(event(day, 12, "signup", user_id="alice", anonymous_id="dev-a"))
            rows.append(event(day, 13, "payment", user_id="alice", revenue=5.0, currency="USD"))
    warehouse.insert_rows("events", rows)
    at = datetime.combine(FIRST_DAY, time(7), tzinfo=UTC)
    bad = {"received_at": at, "request_id": "r1", "reason": "invalid_event"}
    warehouse.insert_rows(
        "bad_events",
        [
            bad | {"payload": json.dumps({"user_id": "alice", "event_type": 7})},
            bad | {"payload": json.dumps({"user_id": "bob", "event_type": 7})},
        ],
    )
    run_rollups(warehouse, start=FIRST_DAY, end=NOW.date(), churn_days=SETTINGS.churn_days)


def user_tables() -> dict[str, list[str]]:
    """Tables with a user_id or anonymous_id column, found by name (not from the catalogue's
    user_keys, which this checks)."""
    return {
        name: [c.name for c in entry.columns if c.name in ("user_id", "anonymous_id")]
        for name, entry in tables().items()
        if any(c.name in ("user_id", "anonymous_id") for c in entry.columns)
    }


def rows_of(warehouse: DuckDBWarehouse, user: str) -> dict[str, list[dict[str, Any]]]:
    """Every row naming `user` in any table with a user column, without what a rewrite changes
    (updated_at)."""
    found = {}
    for table, columns in user_tables().items():
        where = " OR ".join(f"{column} = @user" for column in columns)
        rows = warehouse.query(f"SELECT * FROM {table} WHERE {where}", {"user": user}).rows
        found[table] = sorted(
            json.dumps({k: v for k, v in row.items() if k != "updated_at"}, default=str)
            for row in rows
        )
    return found


def daily(warehouse: DuckDBWarehouse) -> dict[str, dict[str, Any]]:
    rows = warehouse.query(
        "SELECT * FROM daily_kpis WHERE date >= @first ORDER BY date", {"first": FIRST_DAY}
    ).rows
    return {str(row["date"]): row for row in rows}


def test_erasure_leaves_no_row_of_the_user_in_any_table(warehouse):
    populate(warehouse)
    assert any(rows_of(warehouse, "alice").values())  # the test data does name her
    summary = delete_user(warehouse, SETTINGS, "alice", now=NOW)
    assert rows_of(warehouse, "alice") == {table: [] for table in user_tables()}
    payloads = warehouse.query(
        "SELECT payload FROM bad_events WHERE DATE(received_at) >= @d", {"d": FIRST_DAY}
    ).rows
    assert [p["payload"] for p in payloads if "alice" in p["payload"]] == []
    assert len(payloads) == 1  # Bob's rejected payload stays
    assert summary["deleted"]["events"] == 6
    assert summary["status"] == "done"


def test_erasure_leaves_other_users_rows_unchanged(warehouse):
    populate(warehouse)
    before = {user: rows_of(warehouse, user) for user in ("bob", "carol", "dev-b")}
    delete_user(warehouse, SETTINGS, "alice", now=NOW)
    after = {user: rows_of(warehouse, user) for user in ("bob", "carol", "dev-b")}
    assert after == before


def test_erasure_recomputes_rollups_without_the_user(warehouse):
    populate(warehouse)
    before = daily(warehouse)
    delete_user(warehouse, SETTINGS, "alice", now=NOW)
    after = daily(warehouse)
    alice_days = {str(FIRST_DAY + timedelta(days=offset)) for offset in (1, 3)}
    for day, row in after.items():
        # Alice was one active user (two identities that day: "alice" anonymous and by id).
        lost_users = before[day]["active_users"] - row["active_users"]
        assert lost_users == (1 if day in alice_days else 0), day
        lost_revenue = before[day]["revenue"] - row["revenue"]
        assert lost_revenue == pytest.approx(5.0 if day in alice_days else 0.0), day


def test_privacy_log_records_counts_and_a_hash_never_the_user_id(warehouse):
    populate(warehouse)
    delete_user(warehouse, SETTINGS, "alice", now=NOW)
    export_user(warehouse, SETTINGS, "bob", now=NOW)
    rows = warehouse.query(
        "SELECT * FROM privacy_log WHERE DATE(requested_at) >= @d ORDER BY action",
        {"d": NOW.date()},
    ).rows
    assert [row["action"] for row in rows] == ["delete", "export"]
    assert rows[0]["user_hash"] == hashlib.sha256(b"alice").hexdigest()
    text = json.dumps(rows, default=str)
    assert "alice" not in text and "bob" not in text


def test_export_gives_the_users_events_as_json_lines(warehouse):
    populate(warehouse)
    found = export_user(warehouse, SETTINGS, "alice", now=NOW)
    exported = [json.loads(line) for line in found.events]
    assert [json.loads(row["payload"])["user_id"] for row in found.bad_events] == ["alice"]
    assert len(exported) == 6
    assert all("alice" in (e["user_id"], e["anonymous_id"]) for e in exported)
    assert [e["timestamp"] for e in exported] == sorted(e["timestamp"] for e in exported)


def test_every_table_with_a_user_column_is_erased():
    assert set(user_tables()) <= set(erased_tables())


def test_affected_ranges_cover_trailing_windows_and_merge():
    days = [date(2024, 1, 1), date(2024, 1, 3), date(2024, 3, 1)]
    ranges = affected_ranges(days, trailing_days=27, today=date(2024, 3, 10))
    assert ranges == [
        (date(2024, 1, 1), date(2024, 1, 30)),
        (date(2024, 3, 1), date(2024, 3, 10)),
    ]


def test_gdpr_jobs_over_http(tmp_path):
    data_dir = tmp_path / "data"
    warehouse = DuckDBWarehouse(data_dir / "beacon.duckdb")
    warehouse.ensure_tables()
    populate(warehouse)
    warehouse.close()
    env = {"BEACON_BACKEND": "local", "BEACON_DATA_DIR": str(data_dir)}
    with serve_function("rollup", env) as base_url:
        exported = requests.post(
            base_url + "/v1/jobs/gdpr/export", json={"user_id": "alice"}, timeout=60
        )
        deleted = requests.post(
            base_url + "/v1/jobs/gdpr/delete", json={"user_id": "alice"}, timeout=120
        )
        again = requests.post(
            base_url + "/v1/jobs/gdpr/export", json={"user_id": "alice"}, timeout=60
        )
        bad = requests.post(base_url + "/v1/jobs/gdpr/delete", json={"user_id": ""}, timeout=60)
    assert exported.status_code == 200 and len(exported.json()["events"]) == 6
    assert deleted.status_code == 200 and deleted.json()["deleted"]["events"] == 6
    assert "alice" not in deleted.text
    assert again.json()["events"] == []
    assert bad.status_code == 400


def populated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local data directory whose DuckDB file holds populate()'s rows, set as the env's."""
    data_dir = tmp_path / "data"
    warehouse = DuckDBWarehouse(data_dir / "beacon.duckdb")
    warehouse.ensure_tables()
    populate(warehouse)
    warehouse.close()
    monkeypatch.setenv("BEACON_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BEACON_BACKEND", "local")
    return data_dir


def erase_and_export_alice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Export, erase, export again through the CLI, checking each; return standard error."""
    output = tmp_path / "alice.jsonl"
    assert main(["gdpr", "export", "--user-id", "alice", "--output", str(output)]) == 0
    assert main(["gdpr", "delete", "--user-id", "alice"]) == 0
    assert main(["gdpr", "export", "--user-id", "alice"]) == 0
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(lines) == 7
    assert all(line["event_type"] for line in lines[:6])
    assert json.loads(lines[6]["bad_event"]["payload"])["user_id"] == "alice"
    printed = capsys.readouterr()
    # The delete's summary, then nothing: the second export found no events.
    assert json.loads(printed.out)["deleted"]["events"] == 6
    return printed.err


def test_gdpr_commands_ask_the_running_rollup_function_on_its_port(tmp_path, monkeypatch, capsys):
    data_dir = populated_data_dir(tmp_path, monkeypatch)
    env = {"BEACON_BACKEND": "local", "BEACON_DATA_DIR": str(data_dir)}
    with serve_function("rollup", env) as base_url:
        monkeypatch.setenv("BEACON_ROLLUP_PORT", str(urlsplit(base_url).port))
        # The served function holds the DuckDB file; an in-process run here could not open it.
        err = erase_and_export_alice(tmp_path, capsys)
    assert "in this process" not in err


def test_gdpr_commands_run_in_process_when_nothing_listens(tmp_path, monkeypatch, capsys, port):
    populated_data_dir(tmp_path, monkeypatch)
    monkeypatch.setenv("BEACON_ROLLUP_PORT", str(port))
    err = erase_and_export_alice(tmp_path, capsys)
    assert "ran in this process on" in err


def test_gdpr_command_exits_1_and_prints_the_answer_to_a_bad_request(
    tmp_path, monkeypatch, capsys, port
):
    populated_data_dir(tmp_path, monkeypatch)
    monkeypatch.setenv("BEACON_ROLLUP_PORT", str(port))
    assert main(["gdpr", "delete", "--user-id", " "]) == 1
    assert main(["gdpr", "export", "--user-id", ""]) == 1
    printed = capsys.readouterr()
    assert json.loads(printed.out)["error"] == "invalid_request"
    assert "answered 400" in printed.err
    assert "user_id must be a non-empty string" in printed.err  # the export's answer


def test_gdpr_commands_on_gcp_work_on_the_warehouse_and_call_no_function(
    tmp_path, monkeypatch, capsys, port
):
    data_dir = populated_data_dir(tmp_path, monkeypatch)
    monkeypatch.setenv("BEACON_BACKEND", "gcp")
    monkeypatch.setenv("BEACON_GCP_PROJECT", "acme-analytics")
    # Nothing may listen on the rollup port: a request there would fall back to DuckDB, which is
    # what the gcp path must never do. The warehouse runtime hands out stands in for BigQuery.
    monkeypatch.setenv("BEACON_ROLLUP_PORT", str(port))
    warehouse = DuckDBWarehouse(data_dir / "beacon.duckdb")
    runtime.reset()
    runtime.use_warehouse(warehouse)
    try:
        err = erase_and_export_alice(tmp_path, capsys)
        logged = warehouse.query("SELECT action FROM privacy_log").rows
    finally:
        runtime.reset()
        warehouse.close()
    assert "ran directly in BigQuery acme-analytics.beacon" in err
    assert sorted(row["action"] for row in logged) == ["delete", "export", "export"]
