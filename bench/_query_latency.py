"""Latency of the query API over HTTP against a year of rollup rows (target: p99 <= 50 ms).

    .venv/bin/python bench/_query_latency.py [N]

`main()` builds a DuckDB file holding 365 days of rollup rows (sql/bench/sample_rollups.sql,
generated in SQL in well under a second), serves the query function with functions-framework on
loopback with the response cache off, so that every request runs its queries, and prints p50
and p99 per endpoint. `measure()` works against any running query function.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
# The repository root, so that `functions` and `tests.support.serve` import however this file is
# run: as a script, or loaded by bench/rollup.py.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
TARGET_P99_MS = 50.0
ENDPOINTS = (
    "/v1/realtime",
    "/v1/kpis?days=365",
    "/v1/trends/hourly?hours=168",
    "/v1/revenue?days=365",
    "/v1/platforms?days=365",
    "/v1/funnel?steps=signup,search,payment&days=30",
    "/v1/retention?period=week&periods=13",
    "/v1/lifecycle?days=365",
    "/v1/search?days=365",
    "/v1/errors?days=365",
    "/v1/top?by=provider_id&metric=revenue&days=365&limit=10",
    "/v1/users/u1/engagement",
    "/v1/export?report=kpis&format=csv&days=365",
)


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest sample with `fraction` of samples at or below it."""
    ordered = sorted(samples)
    rank = max(1, round(fraction * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def measure(base_url: str, token: str, n: int = 200) -> dict[str, tuple[float, float]]:
    """p50 and p99 in milliseconds of n sequential requests per endpoint, after a warm-up."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    results = {}
    for endpoint in ENDPOINTS:
        for _ in range(5):
            session.get(base_url + endpoint, timeout=30).raise_for_status()
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            response = session.get(base_url + endpoint, timeout=30)
            samples.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
        results[endpoint] = (statistics.median(samples), percentile(samples, 0.99))
    return results


def _sample_rollups() -> Any:
    """bench/_sample_rollups.py, loaded by its path: bench/ is not a package, and a module named
    `bench` elsewhere on sys.path must not stand in for it."""
    spec = importlib.util.spec_from_file_location(
        "_sample_rollups", Path(__file__).with_name("_sample_rollups.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(directory: Path, days: int = 365) -> Path:
    from functions.local.duckdb_warehouse import DuckDBWarehouse

    path = directory / "beacon.duckdb"
    warehouse = DuckDBWarehouse(path)
    warehouse.ensure_tables()
    now = datetime.now(UTC)
    _sample_rollups().fill(warehouse, now.date(), days, now)
    warehouse.close()
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 200
    from tests.support.serve import serve_function  # starts functions-framework for us

    token = "bench-token"
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        build(Path(tmp))
        print(f"built one year of rollups in {time.perf_counter() - started:.2f} s")
        env = {"BEACON_DATA_DIR": tmp, "BEACON_ADMIN_TOKENS": token, "BEACON_CACHE_SECONDS": "0"}
        with serve_function("query", env) as base_url:
            results = measure(base_url, token, n)
    print(f"{'endpoint':58} {'p50 ms':>8} {'p99 ms':>8}")
    for endpoint, (p50, p99) in results.items():
        flag = "" if p99 <= TARGET_P99_MS else "  > target"
        print(f"{endpoint:58} {p50:8.1f} {p99:8.1f}{flag}")
    worst = max(p99 for _, p99 in results.values())
    print(f"worst p99 {worst:.1f} ms (target {TARGET_P99_MS:.0f} ms), n={n} per endpoint")
    return 0 if worst <= TARGET_P99_MS else 1


if __name__ == "__main__":
    sys.exit(main())
