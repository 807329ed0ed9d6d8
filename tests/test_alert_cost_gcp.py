"""The cost check on GCP: the INFORMATION_SCHEMA.JOBS statement and the figures judged from it.

The BigQuery emulator has no INFORMATION_SCHEMA.JOBS, so the statement is captured from the real
code path by a recording warehouse, parsed with sqlglot's BigQuery dialect, and checked for what
the check relies on; a canned row then drives the check's arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from functions.alerts.checks import BYTES_PER_TIB, WARNING
from functions.alerts.runner import CHECKS
from functions.settings import Settings
from functions.warehouse import QueryResult, RefusedRow

NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)


@dataclass
class RecordingWarehouse:
    """Answers every query with `rows` and remembers each statement and its parameters."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    queries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def ensure_tables(self) -> None:
        raise AssertionError("the cost check creates no tables")

    def insert_rows(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        row_ids: Sequence[str] | None = None,
    ) -> list[RefusedRow]:
        raise AssertionError("the cost check writes nothing")

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        self.queries.append((sql, dict(params or {})))
        return QueryResult(rows=list(self.rows))

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        raise AssertionError("the cost check writes nothing")

    def close(self) -> None:
        pass


def gcp(location: str, **overrides: Any) -> Settings:
    return Settings(
        backend="gcp", gcp_project="beacon-test", bigquery_location=location, **overrides
    )


def captured_statement(location: str) -> tuple[exp.Expression, dict[str, Any]]:
    warehouse = RecordingWarehouse(rows=[{"bytes_billed": 0, "jobs": 0}])
    CHECKS["cost"](warehouse, gcp(location), NOW)
    [(sql, params)] = warehouse.queries
    return sqlglot.parse_one(sql, read="bigquery"), params


@pytest.mark.parametrize(
    ("location", "region"),
    [("US", "region-us"), ("EU", "region-eu"), ("europe-west1", "region-europe-west1")],
)
def test_cost_statement_reads_the_jobs_view_of_the_configured_region(
    location: str, region: str
) -> None:
    statement, _ = captured_statement(location)
    [table] = statement.find_all(exp.Table)
    # sqlglot's BigQuery dialect keeps `INFORMATION_SCHEMA.JOBS` as one name under the region.
    assert table.db == region
    assert table.name.upper() == "INFORMATION_SCHEMA.JOBS"


@pytest.mark.parametrize("location", ["US", "EU", "europe-west1"])
def test_cost_statement_filters_creation_time_to_the_last_24_hours_by_parameters(
    location: str,
) -> None:
    statement, params = captured_statement(location)
    where = statement.find(exp.Where)
    assert where is not None
    bounds = {
        (type(node).__name__, node.expression.name)
        for node in where.find_all(exp.GTE, exp.LT)
        if isinstance(node.this, exp.Column)
        and node.this.name == "creation_time"
        and isinstance(node.expression, exp.Parameter)
    }
    assert bounds == {("GTE", "since"), ("LT", "until")}
    assert params == {"since": NOW - timedelta(hours=24), "until": NOW}


@pytest.mark.parametrize("location", ["US", "EU", "europe-west1"])
def test_cost_statement_sums_total_bytes_billed_as_bytes_billed(location: str) -> None:
    statement, _ = captured_statement(location)
    assert isinstance(statement, exp.Select)
    [summed] = [
        alias
        for alias in statement.expressions
        if isinstance(alias, exp.Alias) and alias.alias == "bytes_billed"
    ]
    [total] = list(summed.find_all(exp.Sum))
    assert isinstance(total.this, exp.Column)
    assert total.this.name == "total_bytes_billed"


@pytest.mark.parametrize(
    "location",
    [
        "us`; DROP TABLE events; --",
        "eu.INFORMATION_SCHEMA",
        "europe_west1",
        "europe west1",
        "us\n",
        "région",
        "",
    ],
)
def test_location_outside_lowercase_letters_digits_and_dashes_is_refused_before_any_sql(
    location: str,
) -> None:
    warehouse = RecordingWarehouse()
    with pytest.raises(ValueError, match="BEACON_BIGQUERY_LOCATION"):
        CHECKS["cost"](warehouse, gcp(location), NOW)
    assert warehouse.queries == []


def test_cost_over_budget_fires_with_bytes_times_price_per_tib() -> None:
    warehouse = RecordingWarehouse(rows=[{"bytes_billed": 10 * BYTES_PER_TIB, "jobs": 42}])
    settings = gcp("EU", price_per_tib_usd=6.25, daily_budget_usd=50.0)
    result = CHECKS["cost"](warehouse, settings, NOW)
    assert result.name == "cost"
    assert result.firing
    assert result.severity == WARNING
    assert result.value == 62.5  # 10 TiB x 6.25 USD
    assert result.threshold == 50.0
    assert result.unit == "USD"
    assert result.details == {
        "bytes_billed": 10 * BYTES_PER_TIB,
        "jobs": 42,
        "price_per_tib_usd": 6.25,
        "source": "region-eu.INFORMATION_SCHEMA.JOBS",
    }


def test_cost_under_budget_does_not_fire() -> None:
    warehouse = RecordingWarehouse(rows=[{"bytes_billed": BYTES_PER_TIB // 2, "jobs": 3}])
    settings = gcp("US", price_per_tib_usd=6.25, daily_budget_usd=5.0)
    result = CHECKS["cost"](warehouse, settings, NOW)
    assert not result.firing
    assert result.value == 3.125  # half a TiB x 6.25 USD
    assert result.details["source"] == "region-us.INFORMATION_SCHEMA.JOBS"


def test_no_jobs_in_the_window_costs_nothing() -> None:
    # SUM over no rows is NULL; the statement's COALESCE and the code's `or 0` both cover it.
    warehouse = RecordingWarehouse(rows=[{"bytes_billed": None, "jobs": 0}])
    result = CHECKS["cost"](warehouse, gcp("US"), NOW)
    assert not result.firing
    assert result.value == 0.0
    assert result.details["jobs"] == 0
