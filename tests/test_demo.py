"""The demo generator: deterministic, valid for ingest, and faithful to docs/events.md."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.local.devserver.demo import HISTORY_DAYS, generate_events
from functions.schema import validate_events

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "events.md"


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return generate_events(20_000, seed=7, now=NOW)


def documented_rows() -> list[tuple[list[str], list[str]]]:
    """The docs table: (event types of a row, the fields the row says the rollups read)."""
    rows = []
    for line in DOCS.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            rows.append(
                (re.findall(r"`([a-z_]+)`", cells[0]), re.findall(r"`([a-z_.]+)`", cells[2]))
            )
    return rows


def field_value(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def test_same_seed_and_time_give_the_same_events() -> None:
    assert generate_events(500, seed=3, now=NOW) == generate_events(500, seed=3, now=NOW)


def test_different_seeds_give_different_events() -> None:
    first = generate_events(500, seed=3, now=NOW)
    second = generate_events(500, seed=4, now=NOW)
    assert {e["event_id"] for e in first}.isdisjoint(e["event_id"] for e in second)


def test_exactly_the_requested_number_of_events_oldest_first(events: list[dict[str, Any]]) -> None:
    assert len(events) == 20_000
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    assert len({e["event_id"] for e in events}) == len(events)


def test_every_event_passes_the_ingest_schema(events: list[dict[str, Any]]) -> None:
    accepted, rejected = validate_events(events, received_at=NOW)
    assert rejected == []
    assert len(accepted) == len(events)


def test_uses_every_documented_event_type_and_no_other(events: list[dict[str, Any]]) -> None:
    documented = {event_type for types, _ in documented_rows() for event_type in types}
    assert len(documented) >= 10  # the docs table was parsed
    assert {e["event_type"] for e in events} == documented


def test_each_type_carries_the_fields_the_docs_name(events: list[dict[str, Any]]) -> None:
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_type[event["event_type"]].append(event)
    for types, fields in documented_rows():
        sample = [event for event_type in types for event in by_type[event_type]]
        for event in sample:  # every event has at least one of its row's fields
            assert any(field_value(event, f) is not None for f in fields), (types, event)
        for field in fields:  # and each field of the row appears on some event of the row
            assert any(field_value(e, field) is not None for e in sample), (types, field)


def test_values_mean_what_the_docs_say(events: list[dict[str, Any]]) -> None:
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_type[event["event_type"]].append(event)
    assert all(e["revenue"] > 0 and len(e["currency"]) == 3 for e in by_type["payment"])
    assert all(e["revenue"] < 0 for e in by_type["refund"])
    assert len({e["currency"] for e in by_type["payment"]}) >= 3
    assert all(e["properties"]["rating"] in range(1, 6) for e in by_type["review"])
    counts = [e["properties"]["result_count"] for e in by_type["search"]]
    assert all(isinstance(c, int) for c in counts)
    assert 0 < counts.count(0) < len(counts) / 3
    calls = by_type["api_call"]
    assert all(isinstance(e["success"], bool) and e["duration_ms"] > 0 for e in calls)
    failed = [e for e in calls if not e["success"]]
    assert failed and all(e["error_type"] for e in failed)
    assert all(e["error_type"] and e["properties"]["message"] for e in by_type["error"])
    assert all(e["user_id"] for e in by_type["signup"] + by_type["login"])


def test_history_spans_six_weeks_with_recent_days_busiest(events: list[dict[str, Any]]) -> None:
    times = [datetime.fromisoformat(e["timestamp"]) for e in events]
    assert min(times) >= NOW - timedelta(days=HISTORY_DAYS)
    assert max(times) <= NOW
    first_week = sum(1 for t in times if t < NOW - timedelta(days=HISTORY_DAYS - 7))
    last_week = sum(1 for t in times if t >= NOW - timedelta(days=7))
    assert last_week > 2 * first_week > 0


def test_users_come_back_and_some_churn(events: list[dict[str, Any]]) -> None:
    days: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.get("user_id"):
            days[event["user_id"]].add(event["timestamp"][:10])
    returning = sum(1 for seen in days.values() if len(seen) > 1)
    assert returning > 0.3 * len(days)
    churn_line = (NOW - timedelta(days=30)).date().isoformat()
    churned = sum(1 for seen in days.values() if max(seen) < churn_line)
    assert churned > 0
    payers = {e["user_id"] for e in events if e["event_type"] == "payment"}
    assert 0 < len(payers) < len(days)


def test_platforms_and_user_agents_are_realistic(events: list[dict[str, Any]]) -> None:
    by_platform: dict[str, set[str]] = defaultdict(set)
    for event in events:
        by_platform[event["platform"]].add(event["context"]["user_agent"])
    assert set(by_platform) == {"web", "ios", "android"}
    assert any("Googlebot" in ua for ua in by_platform["web"])
    assert all("iOS" in ua for ua in by_platform["ios"])
    assert all("Android" in ua for ua in by_platform["android"])
    assert {e["category"] for e in events} == {"home_services", "shop", "mentoring"}
