"""A warehouse outage loses nothing: the queue worker retries, or parks, and every event lands once.

In-process, with the real parts `beacon dev` uses: LocalQueue (SQLite), QueueWorker, load_messages
and DuckDBWarehouse; only a thin wrapper makes the warehouse fail on purpose.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from functions.ingest.records import messages
from functions.load.core import load_messages
from functions.local.devserver.demo import generate_events
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.local.localqueue import LocalQueue
from functions.local.worker import QueueWorker
from functions.schema import validate_events
from functions.warehouse import QueryResult, RefusedRow, WarehouseError

NOW = datetime(2025, 4, 2, 9, 30, tzinfo=UTC)


class FailingWarehouse:
    """DuckDBWarehouse whose first `failures` inserts raise WarehouseError, as in an outage."""

    def __init__(self, inner: DuckDBWarehouse, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.refused = 0

    def insert_rows(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        row_ids: Sequence[str] | None = None,
    ) -> list[RefusedRow]:
        if self.refused < self.failures:
            self.refused += 1
            raise WarehouseError("warehouse unavailable (simulated outage)")
        return self.inner.insert_rows(table, rows, row_ids=row_ids)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        return self.inner.query(sql, params)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return self.inner.execute(sql, params)

    def ensure_tables(self) -> None:
        self.inner.ensure_tables()

    def close(self) -> None:
        self.inner.close()


def publish_as_ingest(queue: LocalQueue, events: list[dict[str, Any]], per_request: int) -> None:
    for start in range(0, len(events), per_request):
        accepted, rejected = validate_events(events[start : start + per_request], received_at=NOW)
        assert rejected == []
        queue.publish(
            messages(
                source="test",
                request_id=uuid.uuid4().hex,
                received_at=NOW.isoformat(),
                sent_at=None,
                accepted=accepted,
                bad_rows=[],
            )
        )


def event_counts(warehouse: DuckDBWarehouse) -> dict[str, int]:
    result = warehouse.query(
        "SELECT event_id, COUNT(*) AS n FROM events WHERE `timestamp` IS NOT NULL GROUP BY event_id"
    )
    return {row["event_id"]: row["n"] for row in result.rows}


def drain(worker: QueueWorker, queue: LocalQueue, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        depth = queue.depth()
        if depth["ready"] + depth["delayed"] + depth["leased"] == 0:
            return
        assert time.monotonic() < deadline, depth
        time.sleep(0.02)


def test_an_outage_shorter_than_the_retries_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    events = generate_events(1_000, seed=11, now=NOW)
    queue = LocalQueue(tmp_path / "queue.sqlite3", max_attempts=10, backoff_base=0.01)
    publish_as_ingest(queue, events, per_request=50)
    warehouse = FailingWarehouse(DuckDBWarehouse(tmp_path / "beacon.duckdb"), failures=4)
    warehouse.ensure_tables()
    worker = QueueWorker(queue, lambda batch: load_messages(batch, warehouse), batch_size=5)

    worker.start()
    drain(worker, queue)
    assert worker.stop(drain=True)

    assert warehouse.refused == 4
    assert worker.stats()["failed"] > 0 and worker.stats()["dead"] == 0
    assert event_counts(warehouse.inner) == {e["event_id"]: 1 for e in events}
    warehouse.close()


def test_an_outage_longer_than_the_retries_parks_messages_and_a_redrive_loads_them(
    tmp_path: Path,
) -> None:
    events = generate_events(300, seed=12, now=NOW)
    queue = LocalQueue(tmp_path / "queue.sqlite3", max_attempts=2, backoff_base=0.01)
    publish_as_ingest(queue, events, per_request=100)
    warehouse = FailingWarehouse(DuckDBWarehouse(tmp_path / "beacon.duckdb"), failures=10**6)
    warehouse.ensure_tables()
    worker = QueueWorker(queue, lambda batch: load_messages(batch, warehouse), batch_size=3)

    worker.start()
    drain(worker, queue)
    assert worker.stop(drain=True)
    assert queue.depth()["dead"] == 3  # parked with their error, not dropped
    assert event_counts(warehouse.inner) == {}

    warehouse.failures = 0  # the warehouse is back
    assert queue.redrive_dead_letters() == 3
    while worker.run_once():
        pass
    assert event_counts(warehouse.inner) == {e["event_id"]: 1 for e in events}
    warehouse.close()
