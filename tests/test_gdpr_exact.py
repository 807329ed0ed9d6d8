"""Erasure and export match a user by identity, never by substring, in every table.

The data comes in through the real ingest (over HTTP) and the real load into DuckDB: accepted
events, rejected events, an unusable body that names users in its raw text, and events dated
before 1970. Users are named like the JSON around them (`web`, `event_type`, `null`), like SQL
wildcards (`%`, `_`), with quotes, backslashes and non-ASCII letters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from functions.load.core import load_messages
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.rollup.gdpr import delete_user, erased_tables, export_user
from functions.rollup.runner import run_rollups
from functions.settings import Settings
from tests.support.ingest import Server, serve_ingest

USERS = ["web", "event_type", "null", "%", "_", 'say "hi"', "jürgen", "zoë", "back\\slash", "alice"]
SETTINGS = Settings(churn_days=30)
USER_TABLES = {"events": ("user_id", "anonymous_id"), "user_first_seen": ("user_id",)}
USER_TABLES |= {"user_lifecycle": ("user_id",)}


def send_everything(server: Server) -> None:
    for number, user in enumerate(USERS):
        events = [
            {"event_type": "page_view", "user_id": user, "platform": "web"},
            {"event_type": "login", "anonymous_id": user, "properties": {"event_type": user}},
            {"event_type": "moon_landing", "user_id": user, "timestamp": "1969-07-20T20:17:40Z"},
            # Rejected (not lower snake case), so it lands in bad_events with the user's key.
            {"event_type": "Bad Type", "user_id": user, "properties": {"note": "null"}},
        ]
        assert server.post("/v1/batch", {"events": events}).status_code == 202
        # A body that cannot be parsed still names the user, in the raw or escaped spelling.
        spelled = json.dumps(user, ensure_ascii=number % 2 == 0)
        broken = ('{"events":[{"event_type":"web","user_id":' + spelled + ',"x":"null"').encode()
        assert server.post_raw("/v1/batch", broken).status_code == 400


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file holding everything the users sent, loaded and rolled up (copied per test)."""
    directory = tmp_path_factory.mktemp("gdpr-exact")
    with serve_ingest(directory) as server:
        send_everything(server)
        messages = server.queue.claim(1000)
    warehouse = DuckDBWarehouse(directory / "beacon.duckdb")
    warehouse.ensure_tables()
    load_messages(messages, warehouse)
    # The days an erasure recomputes: each active day and the 30 after it (churn, MAU).
    run_rollups(warehouse, start=date(1969, 7, 20), end=date(1969, 8, 31), churn_days=30)
    # Today's events fall on the day they were stamped: a run that crosses midnight UTC stamps
    # them a day after a date taken before sending, and that day would be left unrolled.
    stamped = warehouse.query(
        "SELECT MIN(DATE(`timestamp`)) AS first_day, MAX(DATE(`timestamp`)) AS last_day"
        " FROM events WHERE DATE(`timestamp`) >= '2000-01-01'"
    ).rows[0]
    run_rollups(warehouse, start=stamped["first_day"], end=stamped["last_day"], churn_days=30)
    warehouse.close()
    return directory / "beacon.duckdb"


@pytest.fixture
def copy(loaded: Path, tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    target = tmp_path / "beacon.duckdb"
    target.write_bytes(loaded.read_bytes())
    warehouse = DuckDBWarehouse(target)
    yield warehouse
    warehouse.close()


def rows(warehouse: DuckDBWarehouse, table: str) -> list[dict[str, Any]]:
    partition = {"bad_events": "received_at", "events": "timestamp"}.get(table)
    where = f"WHERE DATE(`{partition}`) >= '0001-01-01'" if partition else ""
    found = warehouse.query(f"SELECT * FROM {table} {where}").rows
    return [{k: v for k, v in row.items() if k != "updated_at"} for row in found]


def names_user(table: str, row: dict[str, Any], user: str) -> bool:
    if table == "bad_events":
        if row["keys_extracted"]:
            return user in row["user_keys"]
        payload = row["payload"]
        return f'"user_id":{json.dumps(user)}' in payload or (
            f'"user_id":{json.dumps(user, ensure_ascii=False)}' in payload
        )
    return any(row.get(column) == user for column in USER_TABLES[table])


def snapshot(warehouse: DuckDBWarehouse) -> dict[str, list[str]]:
    tables = ["bad_events", *USER_TABLES]
    return {
        t: sorted(json.dumps(r, default=str, sort_keys=True) for r in rows(warehouse, t))
        for t in tables
    }


def test_the_data_names_every_user_in_every_kind_of_row(copy: DuckDBWarehouse) -> None:
    bad = rows(copy, "bad_events")
    for user in USERS:
        assert sum(names_user("bad_events", r, user) for r in bad if r["keys_extracted"]) == 1
        assert sum(names_user("bad_events", r, user) for r in bad if not r["keys_extracted"]) == 1
        assert sum(names_user("events", r, user) for r in rows(copy, "events")) == 3


@pytest.mark.parametrize("user", USERS)
def test_erasure_removes_exactly_the_users_rows_and_nothing_else(
    copy: DuckDBWarehouse, user: str
) -> None:
    before = {t: rows(copy, t) for t in ["bad_events", *USER_TABLES]}
    summary = delete_user(copy, SETTINGS, user)
    assert summary["status"] == "done"
    after = {t: rows(copy, t) for t in before}
    for table, old in before.items():
        theirs = [r for r in old if names_user(table, r, user)]
        others = [r for r in old if not names_user(table, r, user)]
        assert not [r for r in after[table] if names_user(table, r, user)], table
        key = lambda r: json.dumps(r, default=str, sort_keys=True)  # noqa: E731
        assert sorted(map(key, after[table])) == sorted(map(key, others)), table
        if table in ("events", "bad_events"):
            assert summary["deleted"][table] == len(theirs), table


def test_erasure_reaches_every_table_with_user_rows() -> None:
    assert {"events", "bad_events", *USER_TABLES} <= set(erased_tables())


@pytest.mark.parametrize("user", ["jürgen", "web", "%"])
def test_export_finds_the_users_events_from_1969_and_rejections_only(
    copy: DuckDBWarehouse, user: str
) -> None:
    found = export_user(copy, SETTINGS, user)
    events = [json.loads(line) for line in found.events]
    assert len(events) == 3
    assert min(e["timestamp"] for e in events).startswith("1969-07-20")
    assert all(user in (e["user_id"], e["anonymous_id"]) for e in events)
    assert len(found.bad_events) == 2
    assert {row["reason"] for row in found.bad_events} == {"invalid_event", "invalid_json"}


def test_a_second_erasure_of_the_same_user_deletes_nothing_more(copy: DuckDBWarehouse) -> None:
    delete_user(copy, SETTINGS, "null")
    before = snapshot(copy)
    again = delete_user(copy, SETTINGS, "null")
    assert again["deleted"]["events"] == 0 and again["deleted"]["bad_events"] == 0
    assert snapshot(copy) == before
