"""The live demo stream: deterministic, valid, stamped from its start, with a deliberate spike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice, takewhile
from typing import Any

import pytest

from functions.local.devserver.demo import (
    DEFAULT_LIVE_RATE,
    SPIKE_SECONDS,
    generate_events,
    live_events,
)
from functions.schema import validate_events
from functions.settings import Settings

START = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
SPIKE_END = START + timedelta(seconds=SPIKE_SECONDS)
THRESHOLD = Settings().error_rate_threshold


def first_minutes(minutes: int, *, seed: int = 11, **options: Any) -> list[dict[str, Any]]:
    until = START + timedelta(minutes=minutes)
    stream: Iterator[dict[str, Any]] = live_events(seed=seed, start=START, **options)
    return list(takewhile(lambda event: at(event) < until, stream))


def at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["timestamp"])


def is_error(event: dict[str, Any]) -> bool:
    # docs/events.md: an error event has error_type set or success = FALSE.
    return event.get("error_type") is not None or event.get("success") is False


def error_share(events: list[dict[str, Any]]) -> float:
    return sum(1 for e in events if is_error(e)) / len(events)


@pytest.fixture(scope="module")
def hour() -> list[dict[str, Any]]:
    return first_minutes(60)


def test_same_seed_and_start_give_the_same_stream() -> None:
    first = list(islice(live_events(seed=5, start=START), 2_000))
    second = list(islice(live_events(seed=5, start=START), 2_000))
    other = list(islice(live_events(seed=6, start=START), 2_000))
    assert first == second
    assert {e["event_id"] for e in first}.isdisjoint(e["event_id"] for e in other)


def test_events_are_stamped_after_the_start_in_order_at_about_the_rate(
    hour: list[dict[str, Any]],
) -> None:
    times = [at(e) for e in hour]
    assert times == sorted(times)
    assert times[0] > START
    expected = DEFAULT_LIVE_RATE * 3600
    assert 0.9 * expected < len(hour) < 1.1 * expected
    assert len({e["event_id"] for e in hour}) == len(hour)


def test_every_live_event_passes_the_ingest_schema(hour: list[dict[str, Any]]) -> None:
    accepted, rejected = validate_events(hour, received_at=START + timedelta(hours=1))
    assert rejected == []
    assert len(accepted) == len(hour)


def test_live_traffic_uses_the_history_event_types(hour: list[dict[str, Any]]) -> None:
    history_types = {e["event_type"] for e in generate_events(5_000, seed=1, now=START)}
    live_types = {e["event_type"] for e in hour}
    assert live_types <= history_types
    assert {"page_view", "api_call", "search", "signup", "login", "payment"} <= live_types


def test_several_visitors_browse_at_the_same_time(hour: list[dict[str, Any]]) -> None:
    first_minute = [e for e in hour if at(e) < START + timedelta(minutes=1)]
    assert len({e["session_id"] for e in first_minute}) >= 4


def test_spike_errors_are_well_over_the_threshold_and_normal_well_under(
    hour: list[dict[str, Any]],
) -> None:
    spike = [e for e in hour if at(e) < SPIKE_END]
    normal = [e for e in hour if at(e) >= SPIKE_END]
    assert len(spike) >= Settings().error_rate_min_events
    assert error_share(spike) > 4 * THRESHOLD
    assert error_share(normal) < THRESHOLD / 2


def test_spike_failures_are_fast_so_only_the_error_rate_alert_fires(
    hour: list[dict[str, Any]],
) -> None:
    durations = sorted(
        e["duration_ms"] for e in hour if e["event_type"] == "api_call" and at(e) < SPIKE_END
    )
    p95 = durations[int(0.95 * len(durations))]
    assert p95 < Settings().latency_p95_threshold_ms


def test_no_spike_means_normal_errors_from_the_start() -> None:
    events = first_minutes(5, spike_seconds=0.0)
    assert error_share(events) < THRESHOLD


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_last_hour_error_rate_falls_under_the_threshold_15_to_25_minutes_in(seed: int) -> None:
    events = first_minutes(60, seed=seed)
    # The alerts job runs every 5 minutes and judges the hour before it.
    over = {
        minutes: error_share([e for e in events if at(e) < START + timedelta(minutes=minutes)])
        > THRESHOLD
        for minutes in range(5, 61, 5)
    }
    assert over[5] and over[10]
    first_under = min(minutes for minutes, firing in over.items() if not firing)
    assert 15 <= first_under <= 25
    assert not any(firing for minutes, firing in over.items() if minutes > first_under)


def test_a_rate_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        next(live_events(seed=1, start=START, rate=0))
