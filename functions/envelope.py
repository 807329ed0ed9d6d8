"""The body of a bus message: what ingest publishes and the load function reads.

One message carries what one request produced: its accepted events (kind "events"), or its
rejections (kind "bad_events", rows shaped like the bad_events table). Ingest holds no warehouse
credentials, so even rejections travel through the bus to the load function, which writes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from functions.bus import Message

ENVELOPE_VERSION = "1"
ATTRIBUTE_VALUE_LIMIT = 1024  # Pub/Sub's limit on one attribute value, in bytes

Kind = Literal["events", "bad_events"]
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # built once, not per call


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

    def to_message(self) -> Message:
        body = {
            "v": ENVELOPE_VERSION,
            "kind": self.kind,
            "source": self.source,
            "request_id": self.request_id,
            "received_at": self.received_at,
            "sent_at": self.sent_at,
            "records": self.records,
        }
        data = _ENCODER.encode(body).encode()
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
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MalformedEnvelope(f"message data is not JSON: {exc}") from None
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
        )
