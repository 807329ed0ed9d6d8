"""Rows of the bad_events table (sql/tables/bad_events.sql), built in one place.

Ingest builds them for rejected events and unusable bodies; the load function builds them for
messages or records it cannot read. Both keep the raw payload, cut to a bound, with whatever is
not UTF-8 written as backslash escapes so that nothing of it is lost.

A row also names the users its payload is about (`user_keys`, the user_id and anonymous_id
values of every event in it), so that a GDPR erasure matches them by equality. A payload that
could not be parsed has `keys_extracted` FALSE: erasure then falls back to its raw text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from functions.schema import raw_json

# Beacon's own fields, and Segment's (a Segment message is kept as it came).
USER_KEY_FIELDS = ("user_id", "anonymous_id", "userId", "anonymousId")
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
    "user_keys",
    "keys_extracted",
)
_PAYLOAD_JSON = json.JSONEncoder(ensure_ascii=False, default=str)
MAX_ERRORS_PER_ROW = 100  # a huge properties object can break a rule thousands of times


def truncate_payload(payload: bytes | str) -> str:
    """The payload as text of at most PAYLOAD_LIMIT UTF-8 bytes, never splitting a character.

    What is not UTF-8 (stray bytes, lone surrogates) is kept as backslash escapes (\\xff,
    \\ud83d): the column is text, and a client's garbage is evidence worth keeping.
    """
    text = payload.decode("utf-8", "backslashreplace") if isinstance(payload, bytes) else payload
    raw = text.encode("utf-8", "backslashreplace")  # now valid UTF-8 throughout
    return raw[:PAYLOAD_LIMIT].decode("utf-8", "ignore")


def event_payload(raw_event: object, *, suspect: bool) -> str:
    """A rejected event as JSON text, every value as sent.

    `suspect` (schema.Document.suspect) means it may hold duplicate keys or overlong integers,
    which only raw_json writes back as they came.
    """
    if suspect:
        return raw_json(raw_event)
    return _PAYLOAD_JSON.encode(raw_event)


def user_keys(document: object) -> list[str]:
    """The distinct user ids a parsed payload names: of one event, or of a batch's events."""
    if isinstance(document, list):
        events: object = document
    elif isinstance(document, Mapping):
        events = document.get("events", document.get("batch"))
        events = events if isinstance(events, list) else [document]
    else:
        return []
    found: dict[str, None] = {}
    for event in events if isinstance(events, list) else ():
        if isinstance(event, Mapping):
            for name in USER_KEY_FIELDS:
                value = event.get(name)
                if isinstance(value, str) and value:
                    found[value.encode("utf-8", "backslashreplace").decode()] = None
    return list(found)


def bad_event_row(
    *,
    received_at: str | datetime,
    source: str | None,
    request_id: str,
    reason: str,
    errors: Sequence[Mapping[str, str]],
    payload: bytes | str,
    keys: Sequence[str] | None,
    event_index: int | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """KEYS: the users the payload names (see user_keys); None when it could not be parsed."""
    kept = [dict(error) for error in errors[:MAX_ERRORS_PER_ROW]]
    if len(errors) > MAX_ERRORS_PER_ROW:
        more = len(errors) - MAX_ERRORS_PER_ROW
        kept.append({"field": "event", "message": f"and {more} more errors"})
    return {
        "received_at": received_at,
        "source": source,
        "request_id": request_id,
        "event_index": event_index,
        "event_id": event_id,
        "reason": reason,
        "errors": kept,
        "payload": truncate_payload(payload),
        "user_keys": list(keys or ()),
        "keys_extracted": keys is not None,
    }
