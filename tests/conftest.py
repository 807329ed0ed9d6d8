"""Shared test setup: make `tests.support` importable, and small fixtures for loopback servers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# pytest puts tests/ (this file's folder) on sys.path, not the repository root, so the helpers
# under tests/support would not import as `tests.support` without this.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from functions.local.duckdb_warehouse import DuckDBWarehouse  # noqa: E402
from tests.support.serve import free_port  # noqa: E402


@pytest.fixture
def port() -> int:
    """A loopback port that was free a moment ago."""
    return free_port()


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    """A DuckDB warehouse with every table of sql/tables/, in this test's own folder."""
    warehouse = DuckDBWarehouse(tmp_path / "beacon.duckdb")
    warehouse.ensure_tables()
    yield warehouse
    warehouse.close()
