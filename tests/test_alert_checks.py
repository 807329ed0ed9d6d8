"""Each alert check fires on data built to cross its threshold, and stays quiet otherwise.

Rows go into a real DuckDB warehouse; the check runs its own SQL file against them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from functions.alerts.checks import CheckResult, window_in_working_hours, working_hours
from functions.alerts.runner import CHECKS
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.settings import Settings, SettingsError
from tests.support.rows import event_row

NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)  # a Monday, inside the default working hours
TIB = 2**40


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


def run_check(
    name: str, warehouse: DuckDBWarehouse, settings: Settings, now: datetime = NOW
) -> CheckResult:
    return CHECKS[name](warehouse, settings, now)


def add_traffic(
    warehouse: DuckDBWarehouse, events: int, errors: int, at: datetime = NOW - timedelta(minutes=30)
) -> None:
    rows = [event_row(at, "api_call", success=True) for _ in range(events - errors)]
    # Both kinds of error event: a failed call, and an event naming an error type.
    rows += [
        event_row(at, "api_call", success=False)
        if i % 2
        else event_row(at, "error", error_type="Boom")
        for i in range(errors)
    ]
    warehouse.insert_rows("events", rows)


def test_error_rate_fires_above_threshold_with_enough_events(warehouse, settings):
    add_traffic(warehouse, events=200, errors=20)
    result = run_check("error_rate", warehouse, settings)
    assert result.firing
    assert result.value == pytest.approx(20 / 200)
    assert result.details["events"] == 200


def test_error_rate_quiet_at_or_under_threshold(warehouse, settings):
    add_traffic(warehouse, events=200, errors=10)  # exactly 5%: not over
    assert not run_check("error_rate", warehouse, settings).firing


def test_error_rate_quiet_below_min_events_however_high(warehouse, settings):
    add_traffic(warehouse, events=settings.error_rate_min_events - 1, errors=50)
    result = run_check("error_rate", warehouse, settings)
    assert not result.firing
    assert result.value is not None and result.value > settings.error_rate_threshold


def test_error_rate_ignores_errors_older_than_an_hour(warehouse, settings):
    add_traffic(warehouse, events=200, errors=0)
    add_traffic(warehouse, events=100, errors=100, at=NOW - timedelta(minutes=90))
    assert not run_check("error_rate", warehouse, settings).firing


def test_error_rate_counts_a_duplicated_event_once(warehouse, settings):
    add_traffic(warehouse, events=200, errors=10)
    duplicate = event_row(NOW - timedelta(minutes=5), "error", error_type="Boom")
    warehouse.insert_rows("events", [duplicate, duplicate])  # no row_ids: both stored
    result = run_check("error_rate", warehouse, settings)
    assert result.details["events"] == 201
    assert result.firing  # 11 / 201 > 5%


def add_calls(warehouse: DuckDBWarehouse, fast: int, slow: int) -> None:
    at = NOW - timedelta(minutes=10)
    rows = [event_row(at, "api_call", duration_ms=100.0) for _ in range(fast)]
    rows += [event_row(at, "api_call", duration_ms=9000.0) for _ in range(slow)]
    warehouse.insert_rows("events", rows)


def test_latency_fires_when_p95_of_api_calls_is_over_threshold(warehouse, settings):
    add_calls(warehouse, fast=80, slow=20)
    result = run_check("latency_p95", warehouse, settings)
    assert result.firing
    assert result.value is not None and result.value > settings.latency_p95_threshold_ms


def test_latency_quiet_when_only_a_few_calls_are_slow(warehouse, settings):
    add_calls(warehouse, fast=98, slow=2)
    # Slow searches are not API calls and must not count.
    slow_search = event_row(NOW - timedelta(minutes=5), "search", duration_ms=60000.0)
    warehouse.insert_rows("events", [slow_search] * 50)
    result = run_check("latency_p95", warehouse, settings)
    assert not result.firing
    assert result.details["api_calls"] == 100


def add_payments(warehouse: DuckDBWarehouse, day: datetime, count: int, hour: int) -> None:
    at = day.replace(hour=hour, minute=0)
    rows = [event_row(at, "payment", revenue=10.0, currency="USD") for _ in range(count)]
    warehouse.insert_rows("events", rows)


def add_baseline(warehouse: DuckDBWarehouse, weeks: int) -> None:
    for week in range(1, weeks + 1):
        day = NOW - timedelta(weeks=week)
        add_payments(warehouse, day, 20, hour=9)  # 200 USD in the morning
        # The afternoon lies after NOW's time of day and must not count.
        add_payments(warehouse, day, 100, hour=15)
        # Another weekday is no baseline.
        add_payments(warehouse, day - timedelta(days=1), 500, hour=9)


def test_revenue_drop_fires_when_today_is_well_under_the_same_hours_baseline(warehouse, settings):
    add_baseline(warehouse, settings.revenue_baseline_weeks)
    add_payments(warehouse, NOW, 10, hour=9)  # 100 USD against a 200 USD baseline
    result = run_check("revenue_drop", warehouse, settings)
    assert result.firing
    assert result.value == pytest.approx(100.0)
    assert result.details["baseline_average"] == pytest.approx(200.0)


def test_revenue_drop_quiet_when_today_matches_the_baseline(warehouse, settings):
    add_baseline(warehouse, settings.revenue_baseline_weeks)
    add_payments(warehouse, NOW, 17, hour=9)  # 170 USD: 15% under, within the 20% allowed
    assert not run_check("revenue_drop", warehouse, settings).firing


def test_revenue_drop_quiet_without_a_full_baseline(warehouse, settings):
    add_baseline(warehouse, settings.revenue_baseline_weeks - 2)
    result = run_check("revenue_drop", warehouse, settings)  # no revenue at all today
    assert not result.firing
    assert result.details["baseline_trivial"]


def add_costs(warehouse: DuckDBWarehouse, at: datetime, tib: float) -> None:
    row = {"ts": at, "endpoint": "kpis", "bytes_billed": int(tib * TIB)}
    warehouse.insert_rows("query_costs", [row])


def test_cost_fires_when_last_24h_bytes_cost_more_than_the_budget(warehouse, settings):
    budget_tib = settings.daily_budget_usd / settings.price_per_tib_usd
    add_costs(warehouse, NOW - timedelta(hours=20), budget_tib / 2)
    add_costs(warehouse, NOW - timedelta(hours=1), budget_tib / 2 + 0.5)
    result = run_check("cost", warehouse, settings)
    assert result.firing
    assert result.value == pytest.approx((budget_tib + 0.5) * settings.price_per_tib_usd)


def test_cost_quiet_when_the_big_spend_is_older_than_24h(warehouse, settings):
    budget_tib = settings.daily_budget_usd / settings.price_per_tib_usd
    add_costs(warehouse, NOW - timedelta(hours=25), budget_tib * 3)
    add_costs(warehouse, NOW - timedelta(hours=1), budget_tib / 2)
    assert not run_check("cost", warehouse, settings).firing


def test_silence_fires_when_nothing_arrived_within_the_window(warehouse, settings):
    warehouse.insert_rows("events", [event_row(NOW - timedelta(minutes=45))])
    result = run_check("silence", warehouse, settings)
    assert result.firing
    assert result.value == pytest.approx(45.0)


def test_silence_quiet_when_an_event_arrived_recently(warehouse, settings):
    warehouse.insert_rows("events", [event_row(NOW - timedelta(minutes=10))])
    assert not run_check("silence", warehouse, settings).firing


def test_silence_counts_receipt_time_not_event_time(warehouse, settings):
    # A client with a slow clock: event time an hour ago, received a minute ago.
    late = event_row(NOW - timedelta(hours=1)) | {"received_at": NOW - timedelta(minutes=1)}
    warehouse.insert_rows("events", [late])
    assert not run_check("silence", warehouse, settings).firing


def test_silence_not_judged_when_the_window_starts_before_working_hours(warehouse, settings):
    morning = NOW.replace(hour=8, minute=10)  # window 07:40-08:10, working hours 08-20
    result = run_check("silence", warehouse, settings, now=morning)
    assert not result.firing
    assert not result.evaluated


def test_working_hours_wrap_midnight_and_cover_whole_day():
    assert working_hours("22-06") == frozenset({22, 23, 0, 1, 2, 3, 4, 5})
    assert working_hours("00-24") == frozenset(range(24))
    night_start = NOW.replace(hour=23, minute=50)
    assert window_in_working_hours(night_start, night_start + timedelta(minutes=30), "22-06")
    assert not window_in_working_hours(NOW, NOW + timedelta(minutes=30), "22-06")


def test_working_hours_refuse_malformed_spec():
    with pytest.raises(SettingsError):
        working_hours("8am-5pm")
    with pytest.raises(SettingsError):
        working_hours("08-25")


def test_every_check_quiet_on_a_healthy_day(warehouse, settings):
    add_baseline(warehouse, settings.revenue_baseline_weeks)
    add_payments(warehouse, NOW, 20, hour=9)
    add_traffic(warehouse, events=300, errors=3, at=NOW - timedelta(minutes=5))
    add_costs(warehouse, NOW - timedelta(hours=2), 0.1)
    results = [run_check(name, warehouse, settings) for name in CHECKS]
    assert [r.name for r in results if r.firing] == []
