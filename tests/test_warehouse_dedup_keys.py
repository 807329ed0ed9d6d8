"""De-duplication in a DuckDB file written before ids were kept as keys."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from functions.local.duckdb_warehouse import DuckDBWarehouse

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def event_row(event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "page_view",
        "timestamp": NOON,
        "received_at": NOON,
        "loaded_at": NOON,
        "source": "web",
    }


def test_ids_remembered_in_the_old_side_table_are_still_skipped(tmp_path: Path) -> None:
    path = tmp_path / "beacon.duckdb"
    store = DuckDBWarehouse(path)
    store.ensure_tables()
    store.close()
    with duckdb.connect(str(path)) as conn:  # what earlier versions left behind
        conn.execute("CREATE TABLE _seen_ids_events (row_id VARCHAR PRIMARY KEY)")
        conn.execute("INSERT INTO _seen_ids_events VALUES ('old-1'), ('old-2')")
    store = DuckDBWarehouse(path)
    rows = [event_row(i) for i in ("old-1", "new-1", "old-2")]
    store.insert_rows("events", rows, row_ids=[r["event_id"] for r in rows])
    store.insert_rows("events", rows, row_ids=[r["event_id"] for r in rows])
    stored = store.query("SELECT event_id FROM events ORDER BY event_id").rows
    tables = store.query("SELECT table_name FROM INFORMATION_SCHEMA.TABLES").rows
    store.close()
    assert [r["event_id"] for r in stored] == ["new-1"]
    assert "_seen_ids_events" not in {t["table_name"] for t in tables}
