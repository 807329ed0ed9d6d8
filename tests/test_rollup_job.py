"""The rollup job over real HTTP, its input validation, and the partition filters of all SQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlglot
from sqlglot import exp

from functions.jobs import JobInputError
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.rollup.runner import ROLLUP_TABLES, resolve_range
from functions.sqlfiles import SQL_DIR, expand
from tests.sql import rollup_oracle as oracle
from tests.support.serve import serve_function

TODAY = date(2024, 6, 30)


def test_range_defaults_to_trailing_days_through_today() -> None:
    assert resolve_range({}, today=TODAY, trailing_days=3) == (date(2024, 6, 28), TODAY)
    assert resolve_range({"days": 1}, today=TODAY, trailing_days=3) == (TODAY, TODAY)
    assert resolve_range(
        {"start": "2024-01-01", "end": "2024-01-31"}, today=TODAY, trailing_days=3
    ) == (date(2024, 1, 1), date(2024, 1, 31))


@pytest.mark.parametrize(
    "body",
    [
        {"start": "2024-13-01"},
        {"start": "yesterday"},
        {"end": 20240101},
        {"start": "2024-02-01", "end": "2024-01-01"},
        {"start": "2023-01-01", "end": "2024-06-01"},
        {"days": 0},
        {"days": 401},
        {"days": "3"},
    ],
)
def test_bad_ranges_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(JobInputError):
        resolve_range(body, today=TODAY, trailing_days=3)


def test_rollup_job_over_http_writes_the_tables(tmp_path: Path) -> None:
    base, _ = oracle.generate()
    warehouse = DuckDBWarehouse(tmp_path / "beacon.duckdb")
    warehouse.ensure_tables()
    warehouse.insert_rows("events", base)
    warehouse.close()
    env = {"BEACON_DATA_DIR": str(tmp_path), "BEACON_BACKEND": "local", "BEACON_CHURN_DAYS": "5"}
    body = {"start": oracle.START.isoformat(), "end": oracle.END.isoformat()}
    with serve_function("rollup", env) as base_url:
        bad = requests.post(f"{base_url}/v1/jobs/rollup", json={"start": "2024-99-01"}, timeout=30)
        unknown = requests.post(f"{base_url}/v1/jobs/rollup", json={"tables": ["x"]}, timeout=30)
        response = requests.post(f"{base_url}/v1/jobs/rollup", json=body, timeout=60)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    assert unknown.status_code == 400
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["start"], summary["end"]) == (body["start"], body["end"])
    assert set(summary["tables"]) == set(ROLLUP_TABLES)
    assert summary["seconds"] >= 0
    reader = DuckDBWarehouse(tmp_path / "beacon.duckdb", read_only=True)
    try:
        rows = reader.query(
            "SELECT date, events FROM daily_kpis WHERE date BETWEEN @s AND @e ORDER BY date",
            {"s": oracle.START, "e": oracle.END},
        ).rows
    finally:
        reader.close()
    expected = oracle.daily_kpis(base, oracle.START, oracle.END)
    assert [(r["date"], r["events"]) for r in rows] == [(r["date"], r["events"]) for r in expected]


def test_default_body_rolls_up_the_trailing_days(tmp_path: Path) -> None:
    env = {"BEACON_DATA_DIR": str(tmp_path), "BEACON_ROLLUP_TRAILING_DAYS": "2"}
    with serve_function("rollup", env) as base_url:
        response = requests.post(f"{base_url}/v1/jobs/rollup", json={}, timeout=60)
    assert response.status_code == 200, response.text
    today = datetime.now(UTC).date()
    assert response.json()["start"] == (today - timedelta(days=1)).isoformat()
    assert response.json()["end"] in {today.isoformat(), (today + timedelta(days=1)).isoformat()}


# -- every statement reading raw events filters on their partition column --------------------


def _reads_of_events() -> list[tuple[str, exp.Expression]]:
    """(file, the statement or subquery scope) for every read of `events` anywhere under sql/."""
    found = []
    for path in sorted(SQL_DIR.rglob("*.sql")):
        if path.parent.name == "shared":
            continue  # fragments, read where they are used
        # Shared fragments expanded; a template's {placeholders} become plain names so that
        # sqlglot can read the rest.
        text = expand(path.read_text(encoding="utf-8"))
        text = re.sub(r"\{(\w+)\}", r"template_\1", text)
        for tree in sqlglot.parse(text, read="bigquery"):
            if tree is None or isinstance(tree, exp.Create):
                continue
            for table in tree.find_all(exp.Table):
                if table.name != "events":
                    continue
                if isinstance(table.parent, exp.Insert | exp.Schema):
                    continue  # written to, not read
                scope = table.find_ancestor(exp.Select, exp.Delete, exp.Update, exp.Merge)
                assert scope is not None, f"{path}: events read outside a statement"
                found.append((str(path.relative_to(SQL_DIR)), scope))
    return found


def _filters_on_timestamp(scope: exp.Expression) -> bool:
    condition = scope.args.get("where") or scope.args.get("on")
    if condition is None:
        return False
    return any(column.name == "timestamp" for column in condition.find_all(exp.Column))


def test_every_sql_file_reading_events_filters_on_the_partition_column() -> None:
    reads = _reads_of_events()
    assert len({name for name, _ in reads}) >= 9  # at least the rollups; others' files too
    unfiltered = [name for name, scope in reads if not _filters_on_timestamp(scope)]
    assert unfiltered == []


def test_partition_check_flags_an_unfiltered_read() -> None:
    def scope(sql: str) -> exp.Expression:
        select = sqlglot.parse_one(sql, read="bigquery").find(exp.Select)
        assert select is not None
        return select

    assert not _filters_on_timestamp(scope("SELECT COUNT(*) FROM events WHERE source = 'x'"))
    assert _filters_on_timestamp(scope("SELECT 1 FROM events WHERE DATE(`timestamp`) = @day"))
