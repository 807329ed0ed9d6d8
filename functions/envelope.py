"""The body of a bus message: what ingest publishes and the load function reads.

One message carries what one request produced: its accepted events (kind "events"), or its
rejections (kind "bad_events", rows shaped like the bad_events table). Ingest holds no warehouse
credentials, so even rejections travel through the bus to the load function, which writes them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import orjson

from functions.bus import Message

ENVELOPE_VERSION = "1"
ATTRIBUTE_VALUE_LIMIT = 1024  # Pub/Sub's limit on one attribute value, in bytes

Kind = Literal["events", "bad_events"]
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # built once, not per call
_CHECKED_ENCODER = msgspec.json.Encoder()

# orjson decodes about twice as fast as json but reads an integer beyond 64 bits as a float,
# silently. Such an integer is a run of 19+ digits; digits map to NUL (never raw in valid JSON)
# so one C-speed translate and find spots a run, about 0.5 us per 100 events; a run inside a
# string only costs the slower decode.
_DIGITS_AS_NUL = bytes(0 if 0x30 <= b <= 0x39 else b for b in range(256))
_LONG_DIGIT_RUN = b"\0" * 19  # -(2**63) - 1 already has 19 digits
_INT64_MIN, _UINT64_END = -(2**63), 2**64


class MalformedEnvelope(ValueError):
    """A bus message that is not a Beacon envelope; it is parked in bad_events, not retried."""


@dataclass(frozen=True)
class Envelope:
    kind: Kind
    source: str
    request_id: str
    received_at: str  # ISO 8601 UTC, server clock
    sent_at: str | None  # ISO 8601 as the client sent it for the whole request, if it did
    records: list[dict[str, Any]]  # validated events (kind events) or bad_events rows
    # False when json, not orjson, decoded the message: its records may then hold values JSON
    # rows cannot carry exactly (see inexact_value), which load checks record by record.
    exact: bool = field(default=True, compare=False)

    def to_message(self, *, schema_checked: bool = False) -> Message:
        """The bus message of this envelope.

        `schema_checked` says the records passed ingest's schema (finite numbers, text that is
        valid Unicode): msgspec then writes them, five to eight times faster than json, and the
        same JSON but for a float's exponent (1e16, not 1e+16). Other records go through json,
        which keeps a NaN visible to the load (msgspec would write it as null).
        """
        body = {
            "v": ENVELOPE_VERSION,
            "kind": self.kind,
            "source": self.source,
            "request_id": self.request_id,
            "received_at": self.received_at,
            "sent_at": self.sent_at,
            "records": self.records,
        }
        data = _CHECKED_ENCODER.encode(body) if schema_checked else _ENCODER.encode(body).encode()
        return Message(data=data, attributes=self.attributes())

    def attributes(self) -> dict[str, str]:
        types = sorted({str(r.get("event_type", "")) for r in self.records if r.get("event_type")})
        event_type = ",".join(types).encode()[:ATTRIBUTE_VALUE_LIMIT].decode(errors="ignore")
        return {
            "kind": self.kind,
            "source": self.source,
            "event_type": event_type,
            "event_count": str(len(self.records)),
            "envelope_version": ENVELOPE_VERSION,
        }

    @classmethod
    def from_message(cls, data: bytes) -> Envelope:
        body, exact = _decode(data)
        if not isinstance(body, Mapping):
            raise MalformedEnvelope("message data is not a JSON object")
        kind = body.get("kind")
        if kind not in ("events", "bad_events"):
            raise MalformedEnvelope(f"unknown envelope kind {kind!r}")
        records = body.get("records")
        if not isinstance(records, Sequence) or isinstance(records, str | bytes):
            raise MalformedEnvelope("envelope records is not a list")
        if not all(isinstance(r, Mapping) for r in records):
            raise MalformedEnvelope("envelope records must be JSON objects")
        for name in ("source", "request_id", "received_at"):
            if not isinstance(body.get(name), str):
                raise MalformedEnvelope(f"envelope field {name!r} is missing or not a string")
        sent_at = body.get("sent_at")
        return cls(
            kind=kind,
            source=body["source"],
            request_id=body["request_id"],
            received_at=body["received_at"],
            sent_at=sent_at if isinstance(sent_at, str) else None,
            records=[dict(r) for r in records],
            exact=exact,
        )


def _decode(data: bytes) -> tuple[Any, bool]:
    """The message's JSON value, and whether orjson read it (so it holds only exact values).

    Whatever orjson refuses (or might read inexactly) goes to json, so every message json reads
    is read as before, and one json refuses gets the same MalformedEnvelope text as always.
    """
    if not may_read_inexactly(data):
        try:
            return orjson.loads(data), True
        except orjson.JSONDecodeError:
            pass  # json decides below, with its own message
    try:
        return json.loads(data), False
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEnvelope(f"message data is not JSON: {exc}") from None


def may_read_inexactly(data: bytes) -> bool:
    """Whether DATA holds a run of 19+ digits: an integer orjson or msgspec may misread."""
    return data.translate(_DIGITS_AS_NUL).find(_LONG_DIGIT_RUN) >= 0


def inexact_value(row: Mapping[str, Any]) -> tuple[str, str] | None:
    """(column, problem) for the first value of ROW a JSON row cannot carry exactly, or None.

    NaN and Infinity would be written as null, an integer beyond 64 bits or a lone surrogate
    fails the whole batch's insert on every redelivery; such a record is parked instead.
    """
    for column, value in row.items():
        problem = _first_inexact(value)
        if problem is not None:
            return column, problem
    return None


def _first_inexact(value: Any) -> str | None:
    stack = [value]  # iterative: json's nesting can come close to the recursion limit
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            return f"holds the non-finite number {item!r}, which JSON rows cannot carry"
        elif isinstance(item, int) and not _INT64_MIN <= item < _UINT64_END:
            return "holds an integer beyond 64 bits, which JSON rows cannot carry"
        elif isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                return "holds a lone surrogate, which JSON rows cannot carry"
    return None
