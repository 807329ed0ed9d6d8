"""How the load reads records: whole messages through msgspec, the rest record by record.

Both readings must give the same rows, and a message the fast reading refuses must lose nothing
but the record that cannot be a row.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import functions.load.core as core
from functions.bus import Message
from functions.envelope import Envelope
from functions.ingest.records import messages
from functions.load.core import load_messages, prepare_load
from functions.load.record import Context, EventRecord, decode_events
from functions.local.devserver.demo import generate_events
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.schema import CONTEXT_FIELDS, EVENT_FIELDS, validate_events

RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW = RECEIVED + timedelta(seconds=3)


def events_message(records: list[dict[str, Any]], **fields: Any) -> Message:
    values: dict[str, Any] = {
        "kind": "events",
        "source": "web",
        "request_id": "req-1",
        "received_at": RECEIVED.isoformat(),
        "sent_at": None,
        "records": records,
    }
    values.update(fields)
    return Envelope(**values).to_message()


def demo_messages(count: int) -> list[Message]:
    """COUNT demo events as ingest publishes them: validated, 50 to a message."""
    accepted, rejected = validate_events(
        generate_events(count, seed=7, now=RECEIVED), received_at=RECEIVED
    )
    assert not rejected
    out: list[Message] = []
    for start in range(0, len(accepted), 50):
        out += messages(
            source="web",
            request_id=f"req-{start}",
            received_at=RECEIVED.isoformat(),
            sent_at=(RECEIVED - timedelta(seconds=2)).isoformat(),
            accepted=accepted[start : start + 50],
            bad_rows=[],
        )
    return out


def test_the_load_reads_every_field_the_schema_accepts() -> None:
    assert set(EventRecord.__struct_fields__) == EVENT_FIELDS
    assert set(Context.__struct_fields__) == CONTEXT_FIELDS


def test_whole_message_and_record_by_record_readings_give_the_same_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = demo_messages(2_000)
    assert all(decode_events(m.data) is not None for m in batch)
    fast = prepare_load(batch, now=NOW)
    monkeypatch.setattr(core, "decode_events", lambda data: None)
    by_record = prepare_load(batch, now=NOW)
    assert len(fast.events) == 2_000
    assert fast == by_record


@pytest.mark.parametrize(
    "data",
    [
        b'{"kind": "bad_events", "source": "web", "request_id": "r", "received_at": "x",'
        b' "records": []}',
        b'{"kind": "events", "source": "web", "request_id": "r", "received_at": "x",'
        b' "records": [{"event_id": "a", "user_id": 5}]}',
        b'{"kind": "events", "source": "web", "request_id": "r", "received_at": "x",'
        b' "records": [{"event_id": "a", "properties": {"n": 12345678901234567890}}]}',
        b'{"kind": "events", "source": "web", "request_id": "r", "received_at": "x",'
        b' "records": [{"event_id": "\\ud83d"}]}',
        b"not json",
    ],
    ids=["bad-events-envelope", "wrong-type", "long-integer", "lone-surrogate", "not-json"],
)
def test_what_the_whole_message_reading_refuses_goes_record_by_record(data: bytes) -> None:
    assert decode_events(data) is None


@pytest.mark.parametrize(
    ("odd", "field"),
    [
        ({"user_id": 5}, "user_id"),
        ({"context": []}, "context"),
        ({"context": {"locale": ["fr"]}}, "context.locale"),
        ({"properties": "screen=home"}, "properties"),
        ({"duration_ms": True}, "duration_ms"),
        ({"event_type": ""}, "event_type"),
    ],
)
def test_a_record_of_the_wrong_type_is_parked_alone_with_its_field(
    warehouse: DuckDBWarehouse, odd: dict[str, Any], field: str
) -> None:
    records = [
        {"event_id": "before", "event_type": "page_view"},
        {"event_id": "odd", "event_type": "page_view", **odd},
        {"event_id": "after", "event_type": "page_view"},
    ]
    stats = load_messages([events_message(records)], warehouse, now=NOW)
    loaded = warehouse.query(
        "SELECT event_id FROM events WHERE DATE(`timestamp`) >= @day ORDER BY event_id",
        {"day": RECEIVED.date()},
    ).rows
    parked = warehouse.query(
        "SELECT * FROM bad_events WHERE DATE(received_at) >= @day", {"day": RECEIVED.date()}
    ).rows
    assert [row["event_id"] for row in loaded] == ["after", "before"]
    assert stats.malformed == 1
    assert [(row["event_id"], row["event_index"]) for row in parked] == [("odd", 1)]
    assert [error["field"] for error in json.loads(parked[0]["errors"])] == [field]
    assert json.loads(parked[0]["payload"]) == records[1]
