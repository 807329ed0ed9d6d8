"""Benchmark the rollups on DuckDB (not a test; `python bench/rollup.py`).

Generates events straight into a DuckDB file with one INSERT ... SELECT over range() (fast, no
Python rows), then times run_rollups for daily_kpis and for every table, against a hand-written
DuckDB query computing the same daily KPIs on the same data in the same run: the floor. Target:
daily_kpis within 1.5x of the floor. Then runs bench/_query_latency.py's `main(warehouse_path)`
rollup fixture, the query API over HTTP) when that module is present.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from functions.rollup.runner import run_rollups  # noqa: E402
from functions.warehouse.duckdb import DuckDBWarehouse  # noqa: E402

DAYS = 90
FIRST_DAY = date(2024, 1, 1)
TARGET_RATIO = 1.5

# Synthetic events: ~20 events per user, 90 days, 1 % copies of an earlier event (same
# event_id, loaded later), a mix of types with revenue in three currencies. DuckDB-native SQL on
# purpose: this builds the fixture, it is not product SQL.
GENERATE = """
INSERT INTO events (event_id, event_type, "timestamp", received_at, loaded_at, source, user_id,
  session_id, platform, properties, revenue, currency, duration_ms, success, error_type)
SELECT
  'e' || (CASE WHEN i % 100 = 99 THEN i - 1 ELSE i END) AS event_id,
  t.event_type,
  ts, ts, ts + INTERVAL (i % 100) SECOND, 'bench',
  'u' || (hash(i) % $users) AS user_id,
  's' || (hash(i) % ($users * 3)) AS session_id,
  ['web', 'ios', 'android'][1 + i % 3],
  CASE t.event_type
    WHEN 'payment' THEN json_object('platform_fee', 1.5, 'provider_id', 'p' || (i % 50))
    WHEN 'review' THEN json_object('rating', 1 + i % 5, 'provider_id', 'p' || (i % 50))
    WHEN 'search' THEN json_object('query', 'q' || (i % 200), 'result_count', i % 7)
  END,
  CASE WHEN t.event_type = 'payment' THEN 10 + i % 90 WHEN t.event_type = 'refund' THEN -5 END,
  CASE WHEN t.event_type IN ('payment', 'refund') THEN ['USD', 'USD', 'EUR', 'GBP'][1 + i % 4] END,
  CASE WHEN t.event_type IN ('api_call', 'search') THEN (hash(i) % 2000)::DOUBLE END,
  CASE WHEN t.event_type = 'api_call' THEN i % 20 <> 0 END,
  CASE WHEN t.event_type = 'error' THEN 'crash' END
FROM (
  SELECT range AS i,
    TIMESTAMPTZ '{first} 00:00:00+00' + INTERVAL (range % ($days * 86400)) SECOND AS ts,
    ['page_view', 'page_view', 'page_view', 'api_call', 'api_call', 'search', 'login',
     'payment', 'review', 'error', 'signup', 'refund'][1 + (hash(range * 7) % 12)::INT]
       AS event_type
  FROM range($events)
) AS t
"""

# The floor: the same daily KPIs as sql/rollups/daily_kpis.sql, written directly for DuckDB.
FLOOR = """
WITH deduped AS (
  SELECT CAST("timestamp" AS DATE) AS d, COALESCE(user_id, anonymous_id) AS u, event_type,
    session_id, CASE WHEN currency = 'USD' THEN revenue END AS r,
    TRY_CAST(json_extract_string(properties, '$.platform_fee') AS DOUBLE) AS fee,
    TRY_CAST(json_extract_string(properties, '$.rating') AS DOUBLE) AS rating,
    duration_ms, error_type IS NOT NULL OR success IS FALSE AS err
  FROM events
  WHERE CAST("timestamp" AS DATE) BETWEEN $s AND $e
  QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY loaded_at) = 1
), per_day AS (
  SELECT d, count(*) AS events, count(DISTINCT u) AS dau, count(DISTINCT session_id) AS sessions,
    coalesce(sum(r), 0) AS revenue, count(*) FILTER (r > 0) AS tx, avg(r) FILTER (r > 0) AS aov,
    coalesce(sum(fee) FILTER (r > 0), 0) AS fees, avg(rating) FILTER (event_type = 'review'),
    count(*) FILTER (err) AS errors,
    approx_quantile(duration_ms, 0.5) FILTER (event_type = 'api_call') AS p50,
    approx_quantile(duration_ms, 0.95) FILTER (event_type = 'api_call') AS p95,
    count(DISTINCT u) FILTER (r > 0) AS payers
  FROM deduped GROUP BY d
), user_days AS (
  SELECT DISTINCT CAST("timestamp" AS DATE) AS d, COALESCE(user_id, anonymous_id) AS u
  FROM events WHERE CAST("timestamp" AS DATE) BETWEEN $s - 27 AND $e
), rolling AS (
  SELECT days.d, count(DISTINCT u) FILTER (ud.d > days.d - 7) AS wau, count(DISTINCT u) AS mau
  FROM (SELECT DISTINCT d FROM per_day) AS days
  JOIN user_days AS ud ON ud.d BETWEEN days.d - 27 AND days.d GROUP BY days.d
), new_users AS (
  SELECT first_seen_date AS d, count(*) AS n FROM user_first_seen
  WHERE first_seen_date BETWEEN $s AND $e GROUP BY 1
)
SELECT per_day.*, rolling.wau, rolling.mau, new_users.n
FROM per_day LEFT JOIN rolling USING (d) LEFT JOIN new_users USING (d)
"""


def timed(action: Callable[[], Any], repeat: int = 3) -> float:
    """Best of `repeat` wall-clock seconds: the least disturbed by the other work on the box."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - began)
    return best


def bench(events: int, workdir: Path) -> None:
    path = workdir / f"bench-{events}.duckdb"
    warehouse = DuckDBWarehouse(path)
    warehouse.ensure_tables()
    began = time.perf_counter()
    sql = GENERATE.replace("{first}", FIRST_DAY.isoformat())
    params = {"users": max(events // 20, 1), "days": DAYS, "events": events}
    warehouse._conn.execute(sql, params)  # fixture only: DuckDB SQL, not a warehouse statement
    print(f"\n{events:,} events over {DAYS} days generated in {time.perf_counter() - began:.1f} s")

    start, end = FIRST_DAY, FIRST_DAY + timedelta(days=DAYS - 1)
    run_rollups(warehouse, start=start, end=end, tables=["user_first_seen"])
    kpis = timed(lambda: run_rollups(warehouse, start=start, end=end, tables=["daily_kpis"]))
    floor = timed(lambda: warehouse._conn.execute(FLOOR, {"s": start, "e": end}).fetchall())
    ratio = kpis / floor
    verdict = "ok" if ratio <= TARGET_RATIO else "ABOVE TARGET"
    print(f"  daily_kpis, {DAYS} days:      {kpis:7.2f} s")
    print(f"  hand-written DuckDB floor:    {floor:7.2f} s")
    print(f"  ratio:                        {ratio:7.2f}x (target <= {TARGET_RATIO}x: {verdict})")

    trailing = end - timedelta(days=2)
    for label, first in ((f"{DAYS} days", start), ("3 trailing days", trailing)):
        summary = run_rollups(warehouse, start=first, end=end)
        print(f"  all tables, {label + ':':18} {summary['seconds']:7.2f} s")
        if first == start:
            for table, seconds in _per_table(warehouse, first, end).items():
                print(f"    {table:24} {seconds:6.2f} s")
    warehouse.close()


def _per_table(warehouse: DuckDBWarehouse, start: date, end: date) -> dict[str, float]:
    from functions.rollup.runner import ROLLUP_TABLES

    return {
        table: run_rollups(warehouse, start=start, end=end, tables=[table])["seconds"]
        for table in ROLLUP_TABLES
    }


def run_query_latency() -> None:
    module_path = Path(__file__).with_name("_query_latency.py")
    if not module_path.exists():
        print("\nbench/_query_latency.py not present: query latency skipped")
        return
    spec = importlib.util.spec_from_file_location("_query_latency", module_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events",
        type=int,
        nargs="+",
        default=[1_000_000, 10_000_000],
        help="event counts to benchmark (default: 1,000,000 and 10,000,000)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="beacon-bench-") as tmp:
        workdir = Path(tmp)
        for events in args.events:
            bench(events, workdir)
    run_query_latency()


if __name__ == "__main__":
    main()
