"""What the load reads of an event record: its fields and their JSON types, declared once.

Ingest validated the record against the event schema (functions/schema.py); the bus may still
carry anything, so the load reads each record again, as `EventRecord`. msgspec checks the types
in C while it decodes, which is most of what the load's checks cost when they were Python; the
rest (required ids, times, finite numbers) is event_row's. The types are looser than the
schema's on purpose: any value that can become a row loads (a platform the schema has since
dropped, a timestamp kept as the text it was), and the schema alone decides what is valid.

Two ways in, one type:
- `decode_events`, the whole message at once, for the common case of an events envelope whose
  every record reads; it answers None for anything else;
- `record_of`, one already-decoded record, for the messages that path refused: a record that
  cannot be read raises RecordError naming its field, and is parked alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from functions.envelope import may_read_inexactly


class RecordError(ValueError):
    """A record that cannot become an events row; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Context(msgspec.Struct, frozen=True):
    page_url: str | None = None
    referrer: str | None = None
    user_agent: str | None = None
    locale: str | None = None
    ip: Any = None  # any value: what is not an address is stored as null (anonymise_ip)


class EventRecord(msgspec.Struct, frozen=True):
    """An accepted event as the envelope carries it; fields it does not name are ignored."""

    event_id: str | None = None
    event_type: str | None = None
    timestamp: str | None = None  # ISO 8601, parsed by event_row so a bad one names its field
    sent_at: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    session_id: str | None = None
    platform: str | None = None
    app_version: str | None = None
    category: str | None = None
    properties: dict[str, Any] | None = None
    context: Context | None = None
    # An int too, so that one too large for a float reaches event_row, which says so.
    revenue: float | int | None = None
    currency: str | None = None
    duration_ms: float | int | None = None
    success: bool | None = None
    error_type: str | None = None
    extra: dict[str, Any] | None = None


class EventsEnvelope(msgspec.Struct, frozen=True):
    """An events envelope (functions/envelope.py) whose records all read as EventRecord."""

    kind: Literal["events"]
    source: str
    request_id: str
    received_at: str
    records: list[EventRecord]
    sent_at: str | None = None


_DECODER = msgspec.json.Decoder(EventsEnvelope)
# msgspec's error text ends with where: "Expected `str | null`, got `int` - at `$.context.ip`".
_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?:\[\d+\])?\.?(?P<path>[^`]*)`)?$", re.DOTALL)


def decode_events(data: bytes) -> EventsEnvelope | None:
    """DATA as an events envelope whose records all read, or None: then decode it as a dict.

    None also for a message whose JSON might hold an integer beyond 64 bits (the dict path
    parks its record) and for JSON msgspec refuses (the dict path says why).
    """
    if may_read_inexactly(data):
        return None
    try:
        return _DECODER.decode(data)
    except msgspec.DecodeError:  # ValidationError is one
        return None


def record_of(record: Mapping[str, Any]) -> EventRecord:
    """One decoded record as an EventRecord; RecordError names the first field that is not."""
    try:
        return msgspec.convert(record, EventRecord)
    except msgspec.ValidationError as exc:
        raise _record_error(str(exc)) from None


def _record_error(text: str) -> RecordError:
    # Every field has a default, so the errors are of type, at a path ("event": the record).
    found = _AT.match(text)
    if found is None or not found["path"]:
        return RecordError("event", text)
    return RecordError(found["path"], found["message"])
