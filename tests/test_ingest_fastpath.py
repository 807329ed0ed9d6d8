"""The hot path (functions/ingest/fastpath.py) accepts exactly what the slow path accepts.

It may decline a body the slow path would accept (then the slow path takes it), but whatever it
accepts must be what parse_raw, native_body and validate_events make of the same body, record for
record. Checked over the fuzz test's 10,000 generated bodies, demo traffic, and the cases that
msgspec alone would get wrong.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.ingest import fastpath
from functions.ingest.body import BodyError, parse_body
from functions.local.devserver.demo import generate_events
from functions.schema import validate_events
from tests.test_ingest_fuzz import BODIES, SEED, generate

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def slow_path(kind: fastpath.Kind, raw: bytes) -> list[dict[str, Any]] | None:
    """The records the slow path makes when it accepts every event of RAW, else None."""
    try:
        body = parse_body(kind, raw)
    except BodyError:
        return None
    accepted, rejected = validate_events(
        body.events, received_at=NOW, sent_at=body.sent_at, suspect=body.suspect
    )
    return None if rejected else accepted


def without_made_ids(records: list[dict[str, Any]], raw: bytes) -> list[dict[str, Any]]:
    """Records with the event ids ingest made up (random) taken out; the client's kept."""
    return [{k: v for k, v in r.items() if k != "event_id" or v.encode() in raw} for r in records]


def kind_of(path: str) -> fastpath.Kind:
    return "single" if path == "/v1/events" else "batch"


def test_the_hot_path_accepts_what_the_slow_path_accepts_and_nothing_else() -> None:
    r = random.Random(SEED)
    taken = declined = 0
    for index in range(BODIES):
        generated = generate(r, index)
        kind, raw = kind_of(generated.path), generated.body
        fast = fastpath.accept(kind, raw, NOW)
        slow = slow_path(kind, raw)
        if fast is None:
            declined += slow is not None
            continue
        assert slow is not None, (SEED, index, raw[:300])
        assert without_made_ids(fast.records, raw) == without_made_ids(slow, raw), (index, raw)
        taken += 1
    # Every generated body the slow path accepts whole takes the hot path (about a fifth);
    # what it declines beyond those would be bodies with an escaped colon.
    assert taken > BODIES / 5
    assert declined == 0, (taken, declined)


def test_demo_traffic_takes_the_hot_path_with_the_same_records() -> None:
    events = generate_events(2_000, seed=3, now=NOW)
    for start in range(0, len(events), 100):
        raw = json.dumps({"events": events[start : start + 100]}).encode()
        fast = fastpath.accept("batch", raw, NOW)
        assert fast is not None
        assert fast.records == slow_path("batch", raw)
    single = json.dumps({**events[0], "sent_at": "2026-12-01T12:00:00+01:00"}).encode()
    fast = fastpath.accept("single", single, NOW)
    assert fast is not None and fast.sent_at_text == "2026-12-01T12:00:00+01:00"
    assert fast.records == slow_path("single", single)


@pytest.mark.parametrize(
    "body",
    [
        '{"event_type":"a","user_id":"1","user_id":"2"}',  # a repeated key
        '{"event_type":"a","context":{"ip":"::1","ip":"::2"}}',
        '{"event_type":"a","properties":{"n":1,"n":2}}',
        '{"event_type":"a","properties":{"k":{"n":1,"n":2}}}',
        '{"event_type":"a","screen":"home"}',  # an unknown field
        '{"event_type":"a","context":{"screen":"home"}}',
        # A repeated key whose kept value holds an escaped colon: the colons would balance.
        '{"event_type":"a","category":"x","category":"\\u003a"}',
        '{"event_type":"a","user_id":"caf\\ud83d"}',  # a lone surrogate
        '{"event_type":"page_view\\n"}',  # Python's `$` would match before the newline
        '{"event_type":"a","properties":{"n":9223372036854775808}}',  # past 64 bits
        '{"event_type":"a","properties":{"n":1e400}}',
        '{"event_type":"a","revenue":5}',  # revenue without currency
        '{"event_type":"a","timestamp":"2024-05-01T10:00:00"}',  # a naive time
        '{"event_type":"a","context":{"ip":"999.1.1.1"}}',
        '{"event_type":"a","properties":{"rating":11}}',  # past NUMBER_BOUNDS
        '{"event_type":"a","timestamp":"2030-01-01T00:00:00Z"}',  # in the future
        '{"event_type":"a","properties":{"d":' + "[" * 3000 + "]" * 3000 + "}}",
        '{"event_type":"a","properties":{"s":"' + "x" * 8193 + '"}}',
    ],
)
def test_what_needs_the_slow_path_is_declined(body: str) -> None:
    assert fastpath.accept("single", body.encode(), NOW) is None
    assert fastpath.accept("batch", f'{{"events":[{body}]}}'.encode(), NOW) is None


@pytest.mark.parametrize(
    "body",
    [
        '{"events":[{"event_type":"a"}],"events":[{"event_type":"b"}]}',
        '{"events":[{"event_type":"a"}],"writeKey":"k"}',
        '{"batch":[{"type":"track","event":"a"}]}',  # Segment's batch, which /v1/batch takes
        '{"events":[{"event_type":"a"}],"sent_at":"yesterday"}',
        '{"events":[]}',
        '{"events":[' + ",".join(['{"event_type":"a"}'] * 501) + "]}",
    ],
)
def test_batches_the_hot_path_cannot_take_are_declined(body: str) -> None:
    assert fastpath.accept("batch", body.encode(), NOW) is None


def test_a_batch_sent_at_corrects_its_events_as_on_the_slow_path() -> None:
    sent = (NOW - timedelta(hours=2)).isoformat()
    raw = json.dumps({"events": [{"event_type": "a", "event_id": "e1"}], "sent_at": sent}).encode()
    fast = fastpath.accept("batch", raw, NOW)
    assert fast is not None and fast.sent_at_text == sent
    assert fast.records == slow_path("batch", raw)
    assert fast.records[0]["sent_at"] == fast.records[0]["timestamp"]
