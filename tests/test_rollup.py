"""The rollup scripts on real DuckDB against expectations computed independently in Python."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.local.translate import QUANTILE_RANK_TOLERANCE
from functions.rollup.runner import ROLLUP_TABLES, run_rollups
from tests.sql import rollup_oracle as oracle

Row = dict[str, Any]
TRAILING_START = oracle.END - timedelta(days=oracle.LATE_DAYS - 1)
# Columns from approximate quantiles: checked against bounds, not equality.
APPROXIMATE = {"api_p50_ms", "api_p95_ms", "p50_ms"}
SORT_KEYS = {
    "daily_kpis": ("date",),
    "hourly_metrics": ("hour",),
    "revenue_daily": ("date", "currency", "platform"),
    "platform_daily": ("date", "platform"),
    "search_daily": ("date", "query"),
    "error_daily": ("date", "error_type"),
    "top_entities_daily": ("date", "dimension", "entity"),
    "user_first_seen": ("user_id",),
    "user_milestones": ("user_id", "milestone"),
    "user_days": ("date", "user_id"),
    "retention_cohorts": ("period", "cohort_start", "period_index"),
    "user_lifecycle": ("date", "user_id"),
    "lifecycle_transitions": ("date", "from_stage", "to_stage"),
}
DATE_COLUMN = {
    "hourly_metrics": "DATE(hour)",
    "user_first_seen": "first_seen_date",
    "user_milestones": "first_date",
    "retention_cohorts": "cohort_start",
}


def read_table(warehouse: DuckDBWarehouse, table: str) -> list[Row]:
    # Test-only read of a whole table; the date filter satisfies require_partition_filter.
    column = DATE_COLUMN.get(table, "date")
    rows = warehouse.query(f"SELECT * FROM {table} WHERE {column} >= DATE '2000-01-01'").rows
    for row in rows:
        assert row.pop("updated_at") is not None
        row.pop("run_id", None)  # which run wrote a state row is bookkeeping, not a figure
    return sorted(rows, key=lambda r: tuple(r[k] for k in SORT_KEYS[table]))


def comparable(rows: list[Row], table: str) -> list[Row]:
    """Rows without the approximate columns, floats rounded against summation-order noise."""
    keys = SORT_KEYS[table]
    return sorted(
        (
            {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()
             if k not in APPROXIMATE}
            for row in rows
        ),
        key=lambda r: tuple(r[k] for k in keys),
    )  # fmt: skip


def expected_rows(events: list[Row]) -> dict[str, list[Row]]:
    today = datetime.now(UTC).date()
    lifecycle = oracle.user_lifecycle(events, oracle.END, oracle.CHURN_DAYS)
    return {
        "daily_kpis": oracle.daily_kpis(events, oracle.START, oracle.END),
        "hourly_metrics": oracle.hourly_metrics(events, oracle.START, oracle.END),
        "revenue_daily": oracle.revenue_daily(events),
        "platform_daily": oracle.platform_daily(events),
        "search_daily": oracle.search_daily(events),
        "error_daily": oracle.error_daily(events),
        "top_entities_daily": oracle.top_entities_daily(events),
        "user_first_seen": oracle.user_first_seen(events),
        "user_milestones": oracle.user_milestones(events),
        "user_days": oracle.user_days(events),
        "retention_cohorts": oracle.retention_cohorts(events, today),
        "user_lifecycle": lifecycle,
        "lifecycle_transitions": oracle.lifecycle_transitions(lifecycle),
    }


def within_quantile_bounds(value: float | None, values: list[float], q: float) -> bool:
    """A quantile's value lies among the sorted values within the stated rank tolerance of the
    exact rank (QUANTILE_RANK_TOLERANCE of them, at least one rank)."""
    if not values:
        return value is None
    position = q * (len(values) - 1)
    slack = max(1, math.ceil(QUANTILE_RANK_TOLERANCE * len(values)))
    low = values[max(math.floor(position) - slack, 0)]
    high = values[min(math.ceil(position) + slack, len(values) - 1)]
    return value is not None and low - 1e-9 <= value <= high + 1e-9


def rollup(warehouse: DuckDBWarehouse, start: date, end: date) -> dict[str, Any]:
    return run_rollups(
        warehouse, start=start, end=end, churn_days=oracle.CHURN_DAYS, currency=oracle.CURRENCY
    )


@pytest.fixture(scope="module")
def dataset() -> tuple[list[Row], list[Row]]:
    return oracle.generate()


@pytest.fixture(scope="module")
def rolled_up(
    tmp_path_factory: pytest.TempPathFactory, dataset: tuple[list[Row], list[Row]]
) -> Iterator[tuple[DuckDBWarehouse, dict[str, list[Row]], dict[str, list[Row]]]]:
    """A warehouse rolled up once, then again over the trailing days after late events arrived.

    Yields it with the table contents after the first run and after the second.
    """
    base, late = dataset
    warehouse = DuckDBWarehouse(Path(tmp_path_factory.mktemp("rollup")) / "beacon.duckdb")
    warehouse.ensure_tables()
    warehouse.insert_rows("events", base)
    rollup(warehouse, oracle.START, oracle.END)
    before_late = {table: read_table(warehouse, table) for table in ROLLUP_TABLES}
    warehouse.insert_rows("events", late)
    rollup(warehouse, TRAILING_START, oracle.END)
    after_late = {table: read_table(warehouse, table) for table in ROLLUP_TABLES}
    yield warehouse, before_late, after_late
    warehouse.close()


def test_dataset_has_the_hard_cases(dataset: tuple[list[Row], list[Row]]) -> None:
    base, late = dataset
    ids = [row["event_id"] for row in base]
    assert len(ids) - len(set(ids)) == 24  # 12 events delivered three times
    assert any(row["timestamp"].utcoffset() == timedelta(hours=5, minutes=30) for row in base)
    assert any(oracle.day_of(r) != r["timestamp"].date() for r in base)  # local day differs
    assert not any(oracle.day_of(row) in oracle.QUIET_DAYS for row in base + late)
    assert any((row.get("revenue") or 0) < 0 for row in base)
    assert {row.get("currency") for row in base} >= {"USD", "EUR", "GBP"}
    assert all(oracle.day_of(row) >= TRAILING_START for row in late)


@pytest.mark.parametrize("table", ROLLUP_TABLES)
def test_first_run_matches_python_expectations(
    rolled_up: tuple[DuckDBWarehouse, dict[str, list[Row]], dict[str, list[Row]]],
    dataset: tuple[list[Row], list[Row]],
    table: str,
) -> None:
    _, before_late, _ = rolled_up
    expected = expected_rows(dataset[0])[table]
    assert expected
    assert comparable(before_late[table], table) == comparable(expected, table)


@pytest.mark.parametrize("table", ROLLUP_TABLES)
def test_rerun_of_trailing_days_counts_late_events(
    rolled_up: tuple[DuckDBWarehouse, dict[str, list[Row]], dict[str, list[Row]]],
    dataset: tuple[list[Row], list[Row]],
    table: str,
) -> None:
    _, before_late, after_late = rolled_up
    expected = expected_rows(dataset[0] + dataset[1])[table]
    assert comparable(after_late[table], table) == comparable(expected, table)
    assert after_late[table] != before_late[table]


def test_quiet_days_have_zero_rows_where_charts_need_continuity(
    rolled_up: tuple[DuckDBWarehouse, dict[str, list[Row]], dict[str, list[Row]]],
) -> None:
    _, _, after_late = rolled_up
    quiet = [row for row in after_late["daily_kpis"] if row["date"] in oracle.QUIET_DAYS]
    assert [row["date"] for row in quiet] == sorted(oracle.QUIET_DAYS)
    assert all(row["events"] == 0 and row["revenue"] == 0 and row["mau"] > 0 for row in quiet)
    quiet_hours = [r for r in after_late["hourly_metrics"] if r["hour"].date() in oracle.QUIET_DAYS]
    assert len(quiet_hours) == 24 * len(oracle.QUIET_DAYS)
    assert all(row["events"] == 0 for row in quiet_hours)
    assert not [r for r in after_late["revenue_daily"] if r["date"] in oracle.QUIET_DAYS]


def test_approximate_latencies_lie_near_the_exact_quantiles(
    rolled_up: tuple[DuckDBWarehouse, dict[str, list[Row]], dict[str, list[Row]]],
    dataset: tuple[list[Row], list[Row]],
) -> None:
    _, _, after_late = rolled_up
    unique = oracle.dedupe(dataset[0] + dataset[1])
    checked = 0
    for row in after_late["daily_kpis"]:
        durations = oracle.api_durations(r for r in unique if oracle.day_of(r) == row["date"])
        assert within_quantile_bounds(row["api_p50_ms"], durations, 0.5)
        assert within_quantile_bounds(row["api_p95_ms"], durations, 0.95)
        checked += bool(durations)
    for row in after_late["search_daily"]:
        durations = sorted(
            float(r["duration_ms"]) for r in unique
            if r["event_type"] == "search" and oracle.day_of(r) == row["date"]
            and r.get("duration_ms") is not None
            and (r["properties"].get("query") or "").strip(" ").lower() == row["query"]
        )  # fmt: skip
        assert within_quantile_bounds(row["p50_ms"], durations, 0.5)
    assert checked > 10


def test_rerunning_a_range_rewrites_identical_rows(
    rolled_up: tuple[DuckDBWarehouse, dict[str, list[Row]], dict[str, list[Row]]],
) -> None:
    warehouse, _, after_late = rolled_up
    rollup(warehouse, oracle.START, oracle.END)
    rollup(warehouse, TRAILING_START, oracle.END)
    again = {table: read_table(warehouse, table) for table in ROLLUP_TABLES}
    for table in ROLLUP_TABLES:
        for new, old in zip(again[table], after_late[table], strict=True):
            assert new == old, (table, {k: (new[k], old[k]) for k in new if new[k] != old[k]})


def test_lifecycle_includes_churn_and_return(
    rolled_up: tuple[DuckDBWarehouse, dict[str, list[Row]], dict[str, list[Row]]],
) -> None:
    _, _, after_late = rolled_up
    flows = {(r["from_stage"], r["to_stage"]) for r in after_late["lifecycle_transitions"]}
    assert {("new", "lead"), ("lead", "churned")} <= flows
    assert any(source == "churned" for source, _ in flows)
    assert any(target == "customer" for _, target in flows)


@pytest.mark.parametrize("table", ROLLUP_TABLES)
def test_day_by_day_runs_build_what_one_run_does(
    day_by_day: dict[str, list[Row]], dataset: tuple[list[Row], list[Row]], table: str
) -> None:
    # What the hourly rollup-today job does: each run sees one day, and whatever a table needs of
    # earlier days comes from its state (user_first_seen, user_milestones, user_days) or from
    # the cells of earlier runs (retention_cohorts keeps the periods the day cannot touch).
    expected = expected_rows(dataset[0] + dataset[1])[table]
    assert comparable(day_by_day[table], table) == comparable(expected, table)


def one_day_a_run(folder: Path, events: list[Row], days: list[date]) -> dict[str, list[Row]]:
    """Every rollup table after one run for each of DAYS, in that order."""
    warehouse = DuckDBWarehouse(folder / "beacon.duckdb")
    try:
        warehouse.ensure_tables()
        warehouse.insert_rows("events", events)
        for day in days:
            rollup(warehouse, day, day)
        return {table: read_table(warehouse, table) for table in ROLLUP_TABLES}
    finally:
        warehouse.close()


ORACLE_DAYS = [
    oracle.START + timedelta(days=n) for n in range((oracle.END - oracle.START).days + 1)
]


@pytest.fixture(scope="module")
def day_by_day(
    tmp_path_factory: pytest.TempPathFactory, dataset: tuple[list[Row], list[Row]]
) -> dict[str, list[Row]]:
    return one_day_a_run(tmp_path_factory.mktemp("daily"), dataset[0] + dataset[1], ORACLE_DAYS)


FIRST_DAY_TABLES = ("user_first_seen", "user_milestones")  # state that any order of runs builds


@pytest.fixture(scope="module")
def latest_day_first(
    tmp_path_factory: pytest.TempPathFactory, dataset: tuple[list[Row], list[Row]]
) -> dict[str, list[Row]]:
    # A backfill: each run's day is older than every day rolled up before it, so a user's row
    # from a later day must move to the earlier day the run finds.
    events = dataset[0] + dataset[1]
    return one_day_a_run(tmp_path_factory.mktemp("backfill"), events, ORACLE_DAYS[::-1])


@pytest.mark.parametrize("table", FIRST_DAY_TABLES)
def test_runs_from_the_latest_day_back_keep_each_users_first_day(
    latest_day_first: dict[str, list[Row]], dataset: tuple[list[Row], list[Row]], table: str
) -> None:
    expected = expected_rows(dataset[0] + dataset[1])[table]
    assert comparable(latest_day_first[table], table) == comparable(expected, table)
