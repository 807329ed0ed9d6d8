"""Benchmark the rollups on DuckDB (not a test; `python bench/rollup.py`).

For each event count: generates the events straight into a DuckDB file with one INSERT ... SELECT
over range() (fast, no Python rows), then measures in a child process, so that its peak resident
memory is the rollups' own, with DuckDB's memory_limit set (BEACON_DUCKDB_MEMORY_LIMIT's default,
or --memory-limit):
- daily_kpis for 90 days against a hand-written DuckDB query computing the same daily KPIs on the
  same data in the same run (the floor, whose rows are checked against the rollup's);
- all tables for 90 days, and each table alone;
- the scheduled runs: `rollup-today` (today only, over the whole history) and the nightly
  trailing days (best of 3), with the rows DuckDB's profiler says each scanned and the bytes it
  spilled.
Targets are printed beside each figure. With two or more counts it compares each table's time at
the largest count with the smallest (target: at most 12 times for 10 times the events). Then it
runs bench/_query_latency.py (the query API over HTTP on its own rollup fixture) when present.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from functions.local.duckdb_warehouse import DuckDBWarehouse  # noqa: E402
from functions.local.translate import translate  # noqa: E402
from functions.rollup.runner import (  # noqa: E402
    ROLLUP_TABLES,
    rollup_script,
    run_rollups,
    script_params,
)
from functions.settings import Settings  # noqa: E402

DAYS = 90
FIRST_DAY = date(2024, 1, 1)
LAST_DAY = FIRST_DAY + timedelta(days=DAYS - 1)
TRAILING_DAYS = 3  # the nightly run's default (BEACON_ROLLUP_TRAILING_DAYS)
TARGET_RATIO = 1.2  # daily_kpis against the floor
TARGET_ALL_10M_S = 30.0
TARGET_TODAY_10M_S = 2.0
TARGET_GROWTH = 12.0  # time at 10x the events, per table and for all tables
TARGET_RSS_BYTES = 4 << 30

# Synthetic events: ~20 events per user, spread evenly over the 90 days whatever the count,
# 1 % copies of the event before (same event_id and content, loaded later), a mix of types with
# revenue in three currencies. DuckDB-native SQL on purpose: this builds the fixture, it is not
# product SQL. Every column but loaded_at derives from `j`, the id of the original event.
GENERATE = """
INSERT INTO events (event_id, event_type, "timestamp", received_at, loaded_at, source, user_id,
  session_id, platform, properties, revenue, currency, duration_ms, success, error_type)
SELECT
  'e' || j AS event_id,
  t.event_type,
  ts, ts, ts + INTERVAL (i % 100) SECOND, 'bench',
  'u' || (hash(j) % $users) AS user_id,
  's' || (hash(j) % ($users * 3)) AS session_id,
  ['web', 'ios', 'android'][1 + j % 3],
  CASE t.event_type
    WHEN 'payment' THEN json_object('platform_fee', 1.5, 'provider_id', 'p' || (j % 50))
    WHEN 'review' THEN json_object('rating', 1 + j % 5, 'provider_id', 'p' || (j % 50))
    WHEN 'search' THEN json_object('query', 'q' || (j % 200), 'result_count', j % 7)
  END,
  CASE WHEN t.event_type = 'payment' THEN 10 + j % 90 WHEN t.event_type = 'refund' THEN -5 END,
  CASE WHEN t.event_type IN ('payment', 'refund') THEN ['USD', 'USD', 'EUR', 'GBP'][1 + j % 4] END,
  CASE WHEN t.event_type IN ('api_call', 'search') THEN (hash(j) % 2000)::DOUBLE END,
  CASE WHEN t.event_type = 'api_call' THEN j % 20 <> 0 END,
  CASE WHEN t.event_type = 'error' THEN 'crash' END
FROM (
  SELECT i, j,
    TIMESTAMPTZ '{first} 00:00:00+00' + INTERVAL (j * $days * 86400 // $events) SECOND AS ts,
    ['page_view', 'page_view', 'page_view', 'api_call', 'api_call', 'search', 'login',
     'payment', 'review', 'error', 'signup', 'refund'][1 + (hash(j * 7) % 12)::INT]
       AS event_type
  FROM (SELECT range AS i, CASE WHEN range % 100 = 99 THEN range - 1 ELSE range END AS j
        FROM range($events))
) AS t
"""

# The floor: every column of sql/rollups/daily_kpis.sql, for every day of the range, with the same
# rules (first-loaded copy of an event, reporting currency only, 28-day MAU lookback), written
# directly for DuckDB as someone tuning for it would: native JSON and FILTER syntax, no
# translation, the same O(user-days) WAU/MAU method (a span per active day, counted by running
# sums) rather than a strawman. bench() checks that it returns the rows the rollup wrote.
FLOOR = """
WITH deduped AS (
  SELECT * EXCLUDE (event_id, loaded_at) FROM (
    SELECT event_id, loaded_at, "timestamp"::DATE AS d, coalesce(user_id, anonymous_id) AS u,
      session_id, CASE WHEN currency = 'USD' THEN revenue END AS r,
      CASE WHEN revenue > 0 THEN TRY_CAST(properties ->> '$.platform_fee' AS DOUBLE) END AS fee,
      CASE WHEN event_type = 'review' THEN TRY_CAST(properties ->> '$.rating' AS DOUBLE) END
        AS rating,
      CASE WHEN event_type = 'api_call' THEN duration_ms END AS api_ms,
      error_type IS NOT NULL OR success IS FALSE AS err
    FROM events
    WHERE "timestamp"::DATE BETWEEN $s AND $e
  )
  -- NULLS FIRST (loaded_at is never NULL, so the same order): with the default NULLS LAST,
  -- DuckDB rewrites this filter into an arg_min aggregation, measured 1.4x slower here.
  QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY loaded_at NULLS FIRST) = 1
), per_day AS (
  SELECT d, count(*) AS events, count(DISTINCT session_id) AS sessions,
    round(coalesce(sum(r), 0), 6) AS revenue, count(*) FILTER (r > 0) AS tx,
    round(avg(r) FILTER (r > 0), 6) AS aov, round(coalesce(sum(fee) FILTER (r > 0), 0), 6) AS fees,
    avg(rating) AS avg_rating, count(*) FILTER (err) AS errors,
    approx_quantile(api_ms, 0.5) AS p50, approx_quantile(api_ms, 0.95) AS p95,
    count(DISTINCT CASE WHEN r > 0 THEN u END) AS payers
  FROM deduped GROUP BY d
), user_days AS (
  SELECT DISTINCT d, u FROM deduped WHERE u IS NOT NULL
  UNION ALL
  SELECT DISTINCT "timestamp"::DATE, coalesce(user_id, anonymous_id) FROM events
  WHERE "timestamp"::DATE BETWEEN $s - 27 AND $s - 1
    AND coalesce(user_id, anonymous_id) IS NOT NULL
), spans AS (
  SELECT d, lead(d) OVER (PARTITION BY u ORDER BY d) AS nd FROM user_days
), changes AS (
  SELECT d, sum(a) AS a, sum(w) AS w, sum(m) AS m FROM (
    SELECT d, 1 AS a, 1 AS w, 1 AS m FROM spans
    UNION ALL SELECT least(coalesce(nd, d + 7), d + 7), 0, -1, 0 FROM spans
    UNION ALL SELECT least(coalesce(nd, d + 28), d + 28), 0, 0, -1 FROM spans
  ) GROUP BY d
), rolling AS (
  SELECT days.d, coalesce(a, 0) AS dau, sum(coalesce(w, 0)) OVER (ORDER BY days.d) AS wau,
    sum(coalesce(m, 0)) OVER (ORDER BY days.d) AS mau
  FROM (SELECT unnest(generate_series($s - 27, least($e, current_date), INTERVAL 1 DAY))::DATE
    AS d) AS days
  LEFT JOIN changes USING (d)
), new_users AS (
  SELECT first_seen_date AS d, count(*) AS n FROM user_first_seen
  WHERE first_seen_date BETWEEN $s AND $e GROUP BY 1
)
SELECT rolling.d, coalesce(events, 0), dau, wau, mau, coalesce(n, 0), coalesce(sessions, 0),
  coalesce(revenue, 0), coalesce(tx, 0), aov, coalesce(fees, 0), avg_rating,
  coalesce(errors, 0), errors / events, p50, p95, coalesce(payers, 0), payers / nullif(dau, 0)
FROM rolling LEFT JOIN per_day USING (d) LEFT JOIN new_users USING (d)
WHERE rolling.d >= $s
ORDER BY rolling.d
"""
# daily_kpis columns as the floor returns them; bench() compares all but the approximate
# quantiles (sketches fed rows in another order may differ) on the same rows.
WRITTEN = """
SELECT * EXCLUDE (currency, updated_at) FROM daily_kpis WHERE date BETWEEN $s AND $e ORDER BY date
"""
APPROXIMATE_COLUMNS = (14, 15)


def timed(*actions: Callable[[], Any], repeat: int = 3) -> list[float]:
    """Best of `repeat` wall-clock seconds of each action, the actions taking turns, so that a
    burst of other work on the shared machine slows one round of all of them, not one of them."""
    best = [float("inf")] * len(actions)
    for _ in range(repeat):
        for index, action in enumerate(actions):
            began = time.perf_counter()
            action()
            best[index] = min(best[index], time.perf_counter() - began)
    return best


def generate(events: int, workdir: Path) -> Path:
    path = workdir / f"bench-{events}.duckdb"
    warehouse = DuckDBWarehouse(path)
    warehouse.ensure_tables()
    began = time.perf_counter()
    sql = GENERATE.replace("{first}", FIRST_DAY.isoformat())
    params = {"users": max(events // 20, 1), "days": DAYS, "events": events}
    warehouse._conn.execute(sql, params)  # fixture only: DuckDB SQL, not a warehouse statement
    run_rollups(warehouse, start=FIRST_DAY, end=LAST_DAY, tables=["user_first_seen"])
    warehouse.close()
    print(f"\n{events:,} events over {DAYS} days generated in {time.perf_counter() - began:.1f} s")
    return path


def measure(path: Path, memory_limit: str) -> dict[str, Any]:
    """Every figure for one fixture (run in the child process)."""
    warehouse = DuckDBWarehouse(path, memory_limit=memory_limit)
    start, end = FIRST_DAY, LAST_DAY
    kpis, floor = timed(
        lambda: run_rollups(warehouse, start=start, end=end, tables=["daily_kpis"]),
        lambda: warehouse._conn.execute(FLOOR, {"s": start, "e": end}).fetchall(),
    )
    same = _comparable(warehouse._conn.execute(FLOOR, {"s": start, "e": end}).fetchall()) == (
        _comparable(warehouse._conn.execute(WRITTEN, {"s": start, "e": end}).fetchall())
    )
    figures: dict[str, Any] = {"kpis": kpis, "floor": floor, "same": same}
    figures["all"] = run_rollups(warehouse, start=start, end=end)["seconds"]
    figures["tables"] = _per_table(warehouse, start, end)
    for name, first in (("today", end), ("trailing", end - timedelta(days=TRAILING_DAYS - 1))):
        # Best of 3, as above: each run rewrites the same days, so the runs do the same work.
        figures[name] = min(
            run_rollups(warehouse, start=first, end=end)["seconds"] for _ in range(3)
        )
        figures[f"{name}_scanned"] = scanned(warehouse, path, first, end)
    warehouse.close()
    return figures


def scanned(warehouse: DuckDBWarehouse, path: Path, start: date, end: date) -> dict[str, int]:
    """Rows every table's script scans for start..end, and bytes spilled, by DuckDB's profiler
    (a second run of the same statements, outside the timed one: profiling has a cost)."""
    params = script_params(start, end)
    profile = path.with_suffix(".profile.json")
    conn = warehouse._conn
    conn.execute("SET enable_profiling = 'json'")
    conn.execute("SET profiling_output = $out", {"out": str(profile)})
    rows = spilled = 0
    try:
        for name in ROLLUP_TABLES:
            for statement in translate(rollup_script(name)):
                conn.execute(statement.sql, {k: params[k] for k in statement.params})
                report = json.loads(profile.read_text())
                rows += int(report["query"]["total_rows_scanned"])
                spilled += int(report["system"]["total_bytes_spilled"])
    finally:
        conn.execute("SET enable_profiling = 'no_output'")
        conn.execute("RESET enable_profiling")
    return {"rows": rows, "spilled": spilled}


def child_measure(path: Path, memory_limit: str) -> tuple[dict[str, Any], int]:
    """measure() in a child process: its figures and its peak resident memory in bytes."""
    command = [sys.executable, __file__, "--measure", str(path), "--memory-limit", memory_limit]
    child = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"measuring {path} failed ({child.returncode})")
    return json.loads(out), usage.ru_maxrss * 1024  # Linux reports kilobytes


def verdict(ok: bool) -> str:
    return "ok" if ok else "ABOVE TARGET"


def report(events: int, figures: dict[str, Any], rss: int, memory_limit: str) -> None:
    ratio = figures["kpis"] / figures["floor"]
    print(f"  (measured in a child process, DuckDB memory_limit {memory_limit})")
    print(f"  daily_kpis, {DAYS} days:      {figures['kpis']:7.2f} s")
    print(f"  hand-written DuckDB floor:    {figures['floor']:7.2f} s")
    print(
        f"  ratio:                        {ratio:7.2f}x (target <= {TARGET_RATIO}x: "
        f"{verdict(ratio <= TARGET_RATIO)})"
    )
    print(
        f"  floor rows equal the rollup's (quantiles aside): {'yes' if figures['same'] else 'NO'}"
    )
    note = ""
    if events >= 10_000_000:
        note = (
            f" (target <= {TARGET_ALL_10M_S:.0f} s: {verdict(figures['all'] <= TARGET_ALL_10M_S)})"
        )
    print(f"  all tables, {DAYS} days:      {figures['all']:7.2f} s{note}")
    for table, seconds in figures["tables"].items():
        print(f"    {table:24} {seconds:6.2f} s")
    for name, label in (
        ("today", "rollup-today (1 day)"),
        ("trailing", f"{TRAILING_DAYS} trailing days"),
    ):
        scan = figures[f"{name}_scanned"]
        note = ""
        if name == "today" and events >= 10_000_000:
            met = verdict(figures[name] <= TARGET_TODAY_10M_S)
            note = f" (target <= {TARGET_TODAY_10M_S:.0f} s: {met})"
        print(
            f"  {label + ':':28} {figures[name]:7.2f} s{note}; scans {scan['rows']:,} rows"
            f" ({scan['rows'] / events:.1f}x the events), spills {scan['spilled']:,} bytes"
        )
    print(
        f"  peak resident memory:         {rss / 2**30:7.2f} GiB (target < "
        f"{TARGET_RSS_BYTES / 2**30:.0f} GiB: {verdict(rss < TARGET_RSS_BYTES)})"
    )


def growth(measured: dict[int, dict[str, Any]]) -> None:
    """Each table's time at the largest count against the smallest."""
    small, large = min(measured), max(measured)
    factor = large / small
    allowed = TARGET_GROWTH * factor / 10
    print(f"\ngrowth from {small:,} to {large:,} events ({factor:.0f}x; target <= {allowed:.0f}x):")
    rows = [
        (t, measured[small]["tables"][t], measured[large]["tables"][t])
        for t in measured[small]["tables"]
    ]
    rows.append(("all tables", measured[small]["all"], measured[large]["all"]))
    for table, before, after in rows:
        times = after / before if before else float("inf")
        print(
            f"  {table:24} {before:6.2f} s -> {after:6.2f} s  {times:5.1f}x"
            f"  {verdict(times <= allowed)}"
        )


def _comparable(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    # Floats rounded: sums and means differ in their last bits with summation order.
    return [
        tuple(
            round(value, 6) if isinstance(value, float) else value
            for index, value in enumerate(row)
            if index not in APPROXIMATE_COLUMNS
        )
        for row in rows
    ]


def _per_table(warehouse: DuckDBWarehouse, start: date, end: date) -> dict[str, float]:
    """Each table alone, best of two rounds (a second of noise is a tenth of a small table)."""
    runs = [
        lambda t=table: run_rollups(warehouse, start=start, end=end, tables=[t])
        for table in ROLLUP_TABLES
    ]
    return dict(zip(ROLLUP_TABLES, timed(*runs, repeat=2), strict=True))


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
        default=[1_000_000, 3_000_000],
        help=(
            "event counts to benchmark (default: 1,000,000 and 3,000,000, about 2 minutes on 2"
            " shared cores; 10,000,000, the scale check, adds about 4 minutes)"
        ),
    )
    parser.add_argument(
        "--memory-limit",
        default=Settings.from_env({}).duckdb_memory_limit,
        help="DuckDB's memory_limit for the rollups (default: BEACON_DUCKDB_MEMORY_LIMIT's)",
    )
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.memory_limit)))
        return
    measured: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="beacon-bench-") as tmp:
        for events in args.events:
            path = generate(events, Path(tmp))
            figures, rss = child_measure(path, args.memory_limit)
            report(events, figures, rss, args.memory_limit)
            measured[events] = figures
            path.unlink()
    if len(measured) > 1:
        growth(measured)
    run_query_latency()


if __name__ == "__main__":
    main()
