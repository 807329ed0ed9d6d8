"""load_messages against a real DuckDB warehouse: rows, de-duplication, parking, failures."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

import functions.load.core as core
from functions.bad_events import PAYLOAD_LIMIT
from functions.bus import Message
from functions.envelope import Envelope
from functions.ingest.records import messages as published_messages
from functions.load.core import LoadHandler, load_messages, prepare_load
from functions.load.record import Context, EventRecord, decode_events
from functions.local.devserver.demo import generate_events
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.schema import CONTEXT_FIELDS, EVENT_FIELDS, validate_events
from functions.warehouse import QueryResult, RefusedRow, WarehouseError

RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW = RECEIVED + timedelta(seconds=3)
DAY = date(2024, 5, 1)


def envelope(records: list[dict[str, Any]], **fields: Any) -> Envelope:
    values: dict[str, Any] = {
        "kind": "events",
        "source": "web",
        "request_id": "req-1",
        "received_at": RECEIVED.isoformat(),
        "sent_at": None,
        "records": records,
    }
    values.update(fields)
    return Envelope(**values)


def event(event_id: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "event_type": "page_view", **fields}


def message(env: Envelope, message_id: str = "m1") -> Message:
    built = env.to_message()
    return Message(data=built.data, attributes=built.attributes, message_id=message_id)


def events_in(store: DuckDBWarehouse) -> list[dict[str, Any]]:
    return store.query(
        "SELECT * FROM events WHERE DATE(`timestamp`) >= @day ORDER BY event_id",
        {"day": DAY - timedelta(days=1)},
    ).rows


def bad_in(store: DuckDBWarehouse) -> list[dict[str, Any]]:
    return store.query(
        "SELECT * FROM bad_events WHERE DATE(received_at) >= @day ORDER BY request_id",
        {"day": DAY - timedelta(days=1)},
    ).rows


def test_events_are_enriched_and_stored(warehouse: DuckDBWarehouse) -> None:
    client_time = RECEIVED - timedelta(minutes=10)
    sent_at = RECEIVED + timedelta(hours=1)  # the client's clock is an hour ahead
    record = event(
        "e1",
        timestamp=(client_time + timedelta(hours=1)).isoformat(),
        properties={"screen": "home", "items": [1, 2]},
        context={"ip": "203.0.113.9", "user_agent": "curl/8.0", "page_url": "https://x.test/"},
        revenue=9.5,
        currency="EUR",
    )
    stats = load_messages(
        [message(envelope([record], sent_at=sent_at.isoformat()))], warehouse, now=NOW
    )
    rows = events_in(warehouse)
    assert stats.events == 1 and stats.bad_events == 0
    assert len(rows) == 1
    row = rows[0]
    assert row["timestamp"] == client_time
    assert row["loaded_at"] == NOW
    assert row["ip"] == "203.0.113.0"
    assert row["is_bot"] is True and row["device"] == "bot"
    assert json.loads(row["properties"]) == {"screen": "home", "items": [1, 2]}
    assert (row["revenue"], row["currency"], row["page_url"]) == (9.5, "EUR", "https://x.test/")


def test_same_event_in_three_messages_is_one_row(warehouse: DuckDBWarehouse) -> None:
    messages = [
        message(envelope([event("same"), event(f"other-{n}")], request_id=f"r{n}"), f"m{n}")
        for n in range(3)
    ]
    load_messages(messages, warehouse, now=NOW)
    ids = [row["event_id"] for row in events_in(warehouse)]
    assert ids.count("same") == 1
    assert len(ids) == 4


def test_redelivered_message_is_stored_once(warehouse: DuckDBWarehouse) -> None:
    delivery = message(envelope([event("a"), event("b")]))
    for _ in range(3):
        load_messages([delivery], warehouse, now=NOW)
    assert [row["event_id"] for row in events_in(warehouse)] == ["a", "b"]


def test_rejections_are_written_to_bad_events_once(warehouse: DuckDBWarehouse) -> None:
    rejection = {
        "received_at": RECEIVED.isoformat(),
        "source": "web",
        "request_id": "req-9",
        "event_index": 2,
        "event_id": "x",
        "reason": "invalid_event",
        "errors": [{"field": "event_type", "message": "required"}],
        "payload": '{"event_id": "x"}',
    }
    delivery = message(envelope([rejection], kind="bad_events", request_id="req-9"))
    load_messages([delivery], warehouse, now=NOW)
    load_messages([delivery], warehouse, now=NOW)  # redelivered
    rows = bad_in(warehouse)
    assert len(rows) == 1
    assert (rows[0]["reason"], rows[0]["event_index"]) == ("invalid_event", 2)
    assert json.loads(rows[0]["errors"]) == rejection["errors"]


def test_malformed_message_is_parked_not_raised(warehouse: DuckDBWarehouse) -> None:
    garbage = b"\xff not json " + b"x" * (PAYLOAD_LIMIT * 2)
    stats = load_messages(
        [Message(data=garbage, attributes={"source": "web"}, message_id="m-bad")],
        warehouse,
        now=NOW,
    )
    rows = bad_in(warehouse)
    assert stats.malformed == 1
    assert len(rows) == 1
    assert rows[0]["reason"] == "malformed_message"
    assert rows[0]["request_id"] == "m-bad"
    assert rows[0]["received_at"] == NOW
    assert len(rows[0]["payload"].encode()) <= PAYLOAD_LIMIT
    assert "not json" in rows[0]["payload"]


def test_a_bad_record_is_parked_and_its_neighbours_load(warehouse: DuckDBWarehouse) -> None:
    records = [event("good"), event("bad", timestamp="not a time"), event("good2")]
    stats = load_messages([message(envelope(records))], warehouse, now=NOW)
    assert [row["event_id"] for row in events_in(warehouse)] == ["good", "good2"]
    parked = bad_in(warehouse)
    assert stats.malformed == 1
    assert [(r["reason"], r["event_index"], r["event_id"]) for r in parked] == [
        ("malformed_message", 1, "bad")
    ]
    assert json.loads(parked[0]["errors"])[0]["field"] == "timestamp"


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"revenue": 10**400, "currency": "USD"}, "revenue", "is too large"),
        ({"duration_ms": -(10**400)}, "duration_ms", "is too large"),
        (
            {"timestamp": "9999-12-31T23:59:59+00:00", "sent_at": "2024-04-30T12:00:00+00:00"},
            "timestamp",
            "the clock-skew correction leaves the datetime range",
        ),
    ],
)
def test_out_of_range_values_are_parked_with_their_field(
    warehouse: DuckDBWarehouse, fields: dict[str, Any], field: str, reason: str
) -> None:
    records = [event("good"), event("huge", **fields)]
    stats = load_messages([message(envelope(records))], warehouse, now=NOW)
    assert [row["event_id"] for row in events_in(warehouse)] == ["good"]
    assert stats.malformed == 1
    parked = bad_in(warehouse)
    assert [(r["event_id"], r["reason"]) for r in parked] == [("huge", "malformed_message")]
    assert json.loads(parked[0]["errors"]) == [{"field": field, "message": reason}]


class FailingWarehouse:
    """A warehouse whose inserts fail, as BigQuery does during an outage."""

    def __init__(self) -> None:
        self.attempts = 0

    def ensure_tables(self) -> None:
        return None

    def insert_rows(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        row_ids: Sequence[str] | None = None,
    ) -> list[RefusedRow]:
        self.attempts += 1
        raise WarehouseError("backend unavailable")

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        raise WarehouseError("backend unavailable")

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        raise WarehouseError("backend unavailable")

    def close(self) -> None:
        return None


def test_warehouse_failure_propagates_for_redelivery() -> None:
    failing = FailingWarehouse()
    with pytest.raises(WarehouseError):
        load_messages([message(envelope([event("e1")]))], failing, now=NOW)
    assert failing.attempts == 1


def test_then_the_redelivery_loads(warehouse: DuckDBWarehouse) -> None:
    delivery = message(envelope([event("e1")]))
    with pytest.raises(WarehouseError):
        load_messages([delivery], FailingWarehouse(), now=NOW)
    load_messages([delivery], warehouse, now=NOW)
    assert [row["event_id"] for row in events_in(warehouse)] == ["e1"]


def test_nan_and_integers_beyond_64_bits_park_their_record_as_malformed(
    warehouse: DuckDBWarehouse,
) -> None:
    # json reads both; orjson refuses NaN and would read the integer as a float. The record must
    # be parked with its payload, not loaded altered (NaN as null) nor failing the whole insert.
    for number, odd in enumerate([{"ratio": float("nan")}, {"big": 2**70}, {"small": -(2**64)}]):
        records = [event(f"kept-{number}"), event(f"odd-{number}", properties=odd)]
        load_messages([message(envelope(records, request_id=f"req-{number}"))], warehouse, now=NOW)
    both = {"ratio": float("nan"), "big": 2**70}
    stats = load_messages(
        [message(envelope([event("odd-3", properties=both)], request_id="req-3"))],
        warehouse,
        now=NOW,
    )
    assert stats.malformed == 1
    assert [row["event_id"] for row in events_in(warehouse)] == ["kept-0", "kept-1", "kept-2"]
    parked = bad_in(warehouse)
    assert [(r["event_id"], r["reason"], r["event_index"]) for r in parked] == [
        ("odd-0", "malformed_message", 1),
        ("odd-1", "malformed_message", 1),
        ("odd-2", "malformed_message", 1),
        ("odd-3", "malformed_message", 0),
    ]
    assert [json.loads(r["errors"])[0]["field"] for r in parked] == ["properties"] * 4
    assert "NaN" in parked[0]["payload"]
    assert str(2**70) in parked[1]["payload"] and str(-(2**64)) in parked[2]["payload"]
    assert str(2**70) in parked[3]["payload"] and "NaN" in parked[3]["payload"]


@pytest.mark.parametrize("number", [-(2**63), 2**64 - 1, -(2**63) - 1, 2**64, 10**30], ids=str)
def test_integers_load_exactly_or_park_at_the_64_bit_edge(
    warehouse: DuckDBWarehouse, number: int
) -> None:
    delivery = message(envelope([event("e1", properties={"n": number})]))
    stats = load_messages([delivery], warehouse, now=NOW)
    rows = events_in(warehouse)
    if -(2**63) <= number < 2**64:
        assert stats.malformed == 0
        assert json.loads(rows[0]["properties"]) == {"n": number}
    else:
        assert stats.malformed == 1 and rows == []
        assert str(number) in bad_in(warehouse)[0]["payload"]


def test_json_that_orjson_refuses_keeps_loading_as_before(warehouse: DuckDBWarehouse) -> None:
    # A UTF-8 byte order mark: json skips it, orjson refuses it.
    delivery = message(envelope([event("bom")]))
    with_bom = Message(data=b"\xef\xbb\xbf" + delivery.data, attributes=delivery.attributes)
    stats = load_messages([with_bom], warehouse, now=NOW)
    assert stats.malformed == 0
    assert [row["event_id"] for row in events_in(warehouse)] == ["bom"]


def test_long_digit_runs_inside_strings_still_load(warehouse: DuckDBWarehouse) -> None:
    delivery = message(envelope([event("e1", properties={"card": "1" * 40})]))
    load_messages([delivery], warehouse, now=NOW)
    assert json.loads(events_in(warehouse)[0]["properties"]) == {"card": "1" * 40}


def test_load_handler_writes_nothing_until_its_job_runs(warehouse: DuckDBWarehouse) -> None:
    good = message(envelope([event("a"), event("b", timestamp="not a time")]), "m1")
    garbage = Message(data=b"not json", attributes={"source": "web"}, message_id="m2")
    handler = LoadHandler(warehouse)

    job = handler.prepare([good, garbage])
    assert events_in(warehouse) == [] and bad_in(warehouse) == []
    job()
    handler([good, garbage])  # redelivered whole: stored once

    assert [row["event_id"] for row in events_in(warehouse)] == ["a"]
    parked = bad_in(warehouse)
    assert sorted((r["request_id"], r["event_id"]) for r in parked) == [
        ("m2", None),
        ("req-1", "b"),
    ]


def test_load_handler_write_failure_raises_for_redelivery() -> None:
    failing = FailingWarehouse()
    job = LoadHandler(failing).prepare([message(envelope([event("e1")]))])
    with pytest.raises(WarehouseError):
        job()
    assert failing.attempts == 1


# -- how records are read: whole messages through msgspec, the rest record by record --------


def demo_messages(count: int) -> list[Message]:
    """COUNT demo events as ingest publishes them: validated, 50 to a message."""
    accepted, rejected = validate_events(
        generate_events(count, seed=7, now=RECEIVED), received_at=RECEIVED
    )
    assert not rejected
    out: list[Message] = []
    for start in range(0, len(accepted), 50):
        out += published_messages(
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
    stats = load_messages([message(envelope(records))], warehouse, now=NOW)
    parked = bad_in(warehouse)
    assert [row["event_id"] for row in events_in(warehouse)] == ["after", "before"]
    assert stats.malformed == 1
    assert [(row["event_id"], row["event_index"]) for row in parked] == [("odd", 1)]
    assert [error["field"] for error in json.loads(parked[0]["errors"])] == [field]
    assert json.loads(parked[0]["payload"]) == records[1]
