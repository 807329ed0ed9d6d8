"""GET /v1/health over real HTTP: the load's last event, each rollup's last write and the dead
letters, against the same figures read here straight from the DuckDB file and the queue."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import requests

from functions.bus import Message
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.local.localqueue import LocalQueue
from functions.rollup.runner import ROLLUP_TABLES
from functions.settings import Settings
from functions.sqlfiles import load_sql
from tests.support import pipeline_data
from tests.support.serve import serve_function

TOKEN = "health-token"


def test_the_rollup_freshness_query_reads_every_rollup_table() -> None:
    sql = load_sql("queries/health_last_rollups")
    assert sorted(re.findall(r"FROM (\w+)", sql)) == sorted(ROLLUP_TABLES)
    assert sorted(re.findall(r"SELECT '(\w+)'", sql)) == sorted(ROLLUP_TABLES)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_health_reports_the_last_load_each_rollup_and_the_dead_letters(tmp_path: Path) -> None:
    pipeline_data.build(tmp_path / "beacon.duckdb")
    reader = DuckDBWarehouse(tmp_path / "beacon.duckdb", read_only=True)
    last_loaded = reader.query("SELECT MAX(loaded_at) AS t FROM events").rows[0]["t"]
    updated = {
        table: reader.query(f"SELECT MAX(updated_at) AS t FROM {table}").rows[0]["t"]
        for table in ROLLUP_TABLES
    }
    reader.close()
    settings = Settings.from_env({"BEACON_DATA_DIR": str(tmp_path)})
    queue = LocalQueue(settings.queue_path, max_attempts=1)
    queue.publish([Message(data=b"{}", attributes={"event_count": "1"})])
    [claimed] = queue.claim(1)
    assert queue.nack([claimed.message_id], "test: out of attempts") == 1
    queue.close()
    env = {
        "BEACON_DATA_DIR": str(tmp_path),
        "BEACON_ADMIN_TOKENS": TOKEN,
        "BEACON_BACKEND": "local",
    }
    with serve_function("query", env) as base_url:
        answer = requests.get(
            base_url + "/v1/health", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=20
        )
        refused = requests.get(base_url + "/v1/health", timeout=20)
        unknown = requests.get(
            base_url + "/v1/health?x=1", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=20
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["last_event_loaded_at"] == iso(last_loaded)
    assert 0 <= body["seconds_since_last_load"] < 600
    assert {r["table"]: r["last_updated_at"] for r in body["rollups"]} == {
        table: iso(moment) for table, moment in updated.items()
    }
    assert body["dead_letters"] == 1
    assert body["bytes_billed"] > 0
    assert refused.status_code == 401
    assert unknown.status_code == 400 and unknown.json()["field"] == "x"
