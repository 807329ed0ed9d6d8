"""Load throughput: demo envelopes through LocalQueue -> QueueWorker -> load_messages -> DuckDB.

    .venv/bin/python bench/load.py [--events 100000] [--existing 0,1000000] [--rounds 3] [--batch N]

N demo events are validated and published as ingest would (messages of 100 events, each request's
address in context.ip), into a fresh queue and a fresh DuckDB file per round. The figure is the
drain: QueueWorker's thread claiming, load_messages decoding, enriching and inserting, acks
included, with the next batch prepared while the last one is written (LoadHandler's two stages),
and each acked batch counted for /metrics, as `beacon dev` runs it.

Beside it, measured in the same round on the same rows, so a busy machine moves both alike:
- floor: DuckDB's own read_json of the loaded rows (as NDJSON) into an empty copy of the table,
  with no Python in the way and no de-duplication; the ratio says how close the pipeline gets;
- rows only: load_messages over the same messages into a warehouse that keeps nothing, i.e. the
  Python side (decode and enrichment) alone.

With --existing, the events table and the de-duplication ids first get that many rows, so the
figure shows whether the cost per row stays flat as the table grows. `--profile` prints where one
drain spends its time (cProfile, cumulative), stages run one after the other in one thread.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import inspect
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from functions.bus import Message
from functions.ingest.records import fill_ip, messages
from functions.load.core import LoadHandler, load_messages
from functions.load.useragent import parse_user_agent
from functions.local.devserver.demo import generate_events
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.local.localqueue import LocalQueue
from functions.local.metrics import PipelineMetrics
from functions.local.worker import QueueWorker
from functions.schema import validate_events
from functions.settings import Settings
from functions.warehouse import QueryResult, RefusedRow

EVENTS_PER_MESSAGE = 100  # what one /v1/batch request of the demo sender publishes
PUBLISH_MESSAGES = 50  # messages per publish call while filling the queue (not timed)
DEFAULT_WORKER_BATCH = inspect.signature(QueueWorker).parameters["batch_size"].default


@dataclass(frozen=True)
class Round:
    pipeline: float  # rows/s, queue to DuckDB
    floor: float  # rows/s, DuckDB read_json alone
    rows_only: float  # rows/s, decode and enrichment alone


class NullWarehouse:
    """Takes rows and keeps nothing: times load_messages without the database."""

    def ensure_tables(self) -> None:
        return None

    def insert_rows(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        row_ids: Sequence[str] | None = None,
    ) -> list[RefusedRow]:
        return []

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        return QueryResult(rows=[], bytes_billed=0, columns=[])

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return 0

    def close(self) -> None:
        return None


def client_address(anonymous_id: str) -> str:
    """A stable address per visitor, a fifth of them IPv6, as ingest would see them."""
    digest = hashlib.blake2b(anonymous_id.encode(), digest_size=8).digest()
    if digest[0] % 5 == 0:
        return "2001:db8:{:x}:{:x}::{:x}".format(*digest[1:4])
    return "{}.{}.{}.{}".format(*(1 + b % 223 for b in digest[1:5]))


def demo_messages(count: int) -> list[Message]:
    """COUNT demo events as the bus messages ingest publishes for them."""
    received = datetime.now(UTC)
    events = generate_events(count, seed=1, now=received)
    out: list[Message] = []
    for start in range(0, count, EVENTS_PER_MESSAGE):
        chunk = events[start : start + EVENTS_PER_MESSAGE]
        accepted, rejected = validate_events(chunk, received_at=received)
        if rejected:
            raise SystemExit(f"demo events rejected: {rejected[:3]}")
        for record in accepted:
            fill_ip([record], client_address(str(record.get("anonymous_id"))))
        out += messages(
            source="bench",
            request_id=uuid.uuid4().hex,
            received_at=received.isoformat(),
            sent_at=None,
            accepted=accepted,
            bad_rows=[],
        )
    return out


def prefill(path: Path, existing: int) -> None:
    """EXISTING older rows in events and in the de-duplication ids, written by DuckDB directly."""
    warehouse = DuckDBWarehouse(path)
    warehouse.ensure_tables()
    # One row through the adapter creates its de-duplication table as the adapter defines it.
    seed_row = {
        "event_id": "prefill-seed",
        "event_type": "page_view",
        "timestamp": datetime(2020, 1, 1, tzinfo=UTC),
        "received_at": datetime(2020, 1, 1, tzinfo=UTC),
        "loaded_at": datetime(2020, 1, 1, tzinfo=UTC),
        "source": "bench",
    }
    warehouse.insert_rows("events", [seed_row], row_ids=["prefill-seed"])
    warehouse.close()
    if existing <= 1:
        return
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "INSERT INTO events (event_id, event_type, timestamp, client_timestamp, received_at,"
            " loaded_at, source, user_id, anonymous_id, session_id, platform, category,"
            " properties, page_url, user_agent, locale, ip, browser, os, device, is_bot)"
            " SELECT uuid()::VARCHAR, ['page_view','api_call','search','login'][1 + i % 4],"
            " TIMESTAMPTZ '2025-01-01' + to_seconds(i), TIMESTAMPTZ '2025-01-01' + to_seconds(i),"
            " TIMESTAMPTZ '2025-01-01' + to_seconds(i), TIMESTAMPTZ '2025-01-01', 'bench',"
            " 'u-' || (i % 5000), 'anon-' || (i % 20000), 'sess-' || (i // 12), 'web', 'shop',"
            " '{\"screen\": \"home\"}'::JSON, 'https://shop.example/' || (i % 50),"
            " 'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',"
            " 'en-GB', '192.0.2.0', 'Firefox', 'Linux', 'desktop', false"
            " FROM range($n) t(i)",
            {"n": existing - 1},
        )
        conn.execute(
            "INSERT INTO _seen_keys_events SELECT md5_number(event_id) FROM events"
            " WHERE event_id <> 'prefill-seed'"
        )


def floor_rate(path: Path, since: datetime, workdir: Path) -> tuple[int, float]:
    """DuckDB's own read_json of this round's rows into an empty copy of events: rows, rows/s."""
    ndjson = workdir / "floor.ndjson"
    with duckdb.connect(str(path)) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute(
            f"COPY (SELECT * FROM events WHERE loaded_at >= $since) TO '{ndjson}' (FORMAT json)",
            {"since": since},
        )
        columns = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = 'events' ORDER BY ordinal_position"
        ).fetchall()
        struct = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns) + "}"
        conn.execute("CREATE TABLE floor_copy AS SELECT * FROM events LIMIT 0")
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute(
            f"INSERT INTO floor_copy SELECT * FROM read_json('{ndjson}', columns = {struct},"
            " format = 'newline_delimited')"
        )
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        (rows,) = conn.execute("SELECT COUNT(*) FROM floor_copy").fetchone() or (0,)
    return int(rows), rows / elapsed


def rows_only_rate(batch: Sequence[Message], worker_batch: int) -> float:
    """load_messages over BATCH in the worker's batch sizes, into a warehouse keeping nothing."""
    null = NullWarehouse()
    events = 0
    started = time.perf_counter()
    for start in range(0, len(batch), worker_batch):
        events += load_messages(batch[start : start + worker_batch], null).events
    return events / (time.perf_counter() - started)


def one_round(
    batch: Sequence[Message],
    events: int,
    existing: int,
    workdir: Path,
    profile: bool,
    worker_batch: int,
) -> Round:
    path = workdir / "load.duckdb"
    prefill(path, existing)
    queue = LocalQueue(workdir / "queue.sqlite3")
    for start in range(0, len(batch), PUBLISH_MESSAGES):
        queue.publish(batch[start : start + PUBLISH_MESSAGES])
    warehouse = DuckDBWarehouse(path)
    # With /metrics counting each acked batch, as `beacon dev` always runs the worker.
    metrics = PipelineMetrics(queue, warehouse, Settings())
    worker = QueueWorker(
        queue, LoadHandler(warehouse), batch_size=worker_batch, on_acked=metrics.acked
    )
    since = datetime.now(UTC)
    started = time.perf_counter()
    if profile:
        # cProfile sees one thread only, so the profiled drain runs the stages one after the
        # other (run_once), in this thread.
        profiler = cProfile.Profile()
        profiler.enable()
        while worker.run_once():
            pass
        profiler.disable()
    else:
        # The worker's own thread, as `beacon dev` runs it: the next batch is prepared while
        # the last one is written. A drained stop returns once nothing is left to claim.
        worker.start()
        if not worker.stop(drain=True, timeout=3600):
            raise SystemExit("the worker did not drain the queue")
    elapsed = time.perf_counter() - started
    result = warehouse.query("SELECT COUNT(*) AS n FROM events")
    warehouse.close()
    queue.close()
    loaded = int(result.rows[0]["n"]) - max(existing, 1)
    if loaded != events:
        raise SystemExit(f"load lost events: {loaded} new rows for {events} events")
    if profile:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(20)
    floor_rows, floor = floor_rate(path, since, workdir)
    if floor_rows != events:
        raise SystemExit(f"floor read {floor_rows} rows for {events} events")
    return Round(events / elapsed, floor, rows_only_rate(batch, worker.batch_size))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--existing", default="0,1000000", help="comma-separated row counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one drain to stderr")
    parser.add_argument(
        "--batch", type=int, default=DEFAULT_WORKER_BATCH, help="messages per claim"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    batch = demo_messages(args.events)
    print(
        f"{args.events:,} demo events in {len(batch):,} messages of {EVENTS_PER_MESSAGE}"
        f" (prepared in {time.perf_counter() - started:.1f} s);"
        f" worker batch {args.batch} messages"
    )
    # uap-core loads its rules on the first agent, once per process (about 0.2 s); a running
    # worker has them, so they are loaded before any clock starts.
    parse_user_agent("Mozilla/5.0 (warm-up)")
    for existing in (int(n) for n in args.existing.split(",")):
        rounds = []
        for number in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="beacon-bench-load-") as tmp:
                rounds.append(
                    one_round(
                        batch,
                        args.events,
                        existing,
                        Path(tmp),
                        args.profile and number == 0,
                        args.batch,
                    )
                )
        pipeline = statistics.median(r.pipeline for r in rounds)
        floor = statistics.median(r.floor for r in rounds)
        rows_only = statistics.median(r.rows_only for r in rounds)
        print(
            f"existing rows {existing:>9,}: queue -> DuckDB {pipeline:>8,.0f} rows/s"
            f" | floor (read_json) {floor:>9,.0f} rows/s | pipeline/floor {pipeline / floor:.2f}"
            f" | decode+enrich alone {rows_only:>8,.0f} rows/s"
            f"  (median of {len(rounds)}: {', '.join(f'{r.pipeline:,.0f}' for r in rounds)})"
        )


if __name__ == "__main__":
    main()
