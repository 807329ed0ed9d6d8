"""Rows of the bad_events table (sql/tables/bad_events.sql), built in one place.

Ingest builds them for rejected events and unusable bodies; the load function builds them for
messages or records it cannot read. Both keep the raw payload, cut to a bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

PAYLOAD_LIMIT = 64 * 1024  # bytes of raw payload kept per row
COLUMNS = (
    "received_at",
    "source",
    "request_id",
    "event_index",
    "event_id",
    "reason",
    "errors",
    "payload",
)


def truncate_payload(payload: bytes | str) -> str:
    """The payload as text of at most PAYLOAD_LIMIT UTF-8 bytes, never splitting a character.

    Bytes that are not UTF-8 are dropped: the column is text, and a client's garbage is kept as
    far as it reads.
    """
    if isinstance(payload, str):
        raw = payload.encode("utf-8", errors="replace")
        if len(raw) <= PAYLOAD_LIMIT:
            return payload
        payload = raw
    return payload[:PAYLOAD_LIMIT].decode("utf-8", errors="ignore")


def bad_event_row(
    *,
    received_at: str | datetime,
    source: str | None,
    request_id: str,
    reason: str,
    errors: Sequence[Mapping[str, str]],
    payload: bytes | str,
    event_index: int | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "received_at": received_at,
        "source": source,
        "request_id": request_id,
        "event_index": event_index,
        "event_id": event_id,
        "reason": reason,
        "errors": [dict(error) for error in errors],
        "payload": truncate_payload(payload),
    }
