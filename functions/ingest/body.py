"""Turn a request body into a list of raw events, within the size limits, or a BodyError.

Limits hold before any work: a Content-Length over 1 MB is refused unread, and gzip is decoded
in bounded steps so a small compressed bomb stops at 1 MB of output instead of filling memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Literal

from functions.ingest import segment_api
from functions.ingest.segment_api import SEGMENT_MAX_BATCH_EVENTS, Call
from functions.schema import (
    MAX_BATCH_EVENTS,
    MAX_REQUEST_BYTES,
    Document,
    DuplicateKeys,
    InvalidJSON,
    TimestampError,
    parse_document,
    parse_timestamp,
)

Kind = Literal["single", "batch"]
ACCEPTED_TYPES = ("application/json", "text/plain")  # text/plain: what sendBeacon sends
_READ_CHUNK = 64 * 1024


class BodyError(Exception):
    """The body is unusable; `status` and `code` go to the client, `payload` to bad_events."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str = "body",
        payload: bytes = b"",
        document: object = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.payload = payload
        self.document = document  # the parsed body, when it was JSON: names the users in it


@dataclass(frozen=True)
class Body:
    events: list[object]
    sent_at: datetime | None  # the batch's, parsed
    sent_at_text: str | None  # as the client sent it, for the envelope
    suspect: bool = False  # see schema.Document.suspect
    # What the client sent for each event, when events were translated from another protocol
    # (Segment): a rejection keeps the message as it came.
    originals: list[object] | None = None

    def original(self, index: int) -> object:
        return self.events[index] if self.originals is None else self.originals[index]


def check_content_type(mimetype: str, params: Mapping[str, str]) -> None:
    if mimetype.lower() not in ACCEPTED_TYPES:
        shown = mimetype or "none"
        raise BodyError(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json or text/plain, got {shown}",
            field="Content-Type",
        )
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise BodyError(
            415,
            "unsupported_media_type",
            f"the body must be UTF-8, got charset {charset}",
            field="Content-Type",
        )


def read_body(
    stream: IO[bytes],
    content_length: int | None,
    content_encoding: str | None,
    limit: int = MAX_REQUEST_BYTES,
) -> bytes:
    """The decoded body, at most `limit` bytes before and after gzip decoding."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise BodyError(
            415,
            "unsupported_encoding",
            f"Content-Encoding must be gzip or absent, got {encoding}",
            field="Content-Encoding",
        )
    if content_length is not None and content_length > limit:
        raise BodyError(
            413, "too_large", f"the body is {content_length} bytes; the limit is {limit}"
        )
    raw = _read_at_most(stream, limit)
    if encoding == "identity":
        return raw
    return gunzip(raw, limit)


def _read_at_most(stream: IO[bytes], limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        try:
            chunk = stream.read(min(_READ_CHUNK, limit + 1 - size))
        except TimeoutError:  # the local server's read deadline (devserver/ingest_server.py)
            raise BodyError(
                408,
                "request_timeout",
                "the body did not arrive in time",
                payload=b"".join(parts),
            ) from None
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        size += len(chunk)
    raise BodyError(
        413, "too_large", f"the body exceeds {limit} bytes", payload=b"".join(parts)[:limit]
    )


def gunzip(data: bytes, limit: int) -> bytes:
    """Decode one or more gzip members, refusing output beyond `limit` bytes as it streams."""
    out = bytearray()
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = data
    try:
        while pending:
            # max_length is at least 1 here (0 would mean "no limit").
            out += decoder.decompress(pending, limit + 1 - len(out))
            if len(out) > limit:
                raise BodyError(
                    413,
                    "too_large",
                    f"the body decodes to more than {limit} bytes",
                    payload=bytes(out[:limit]),
                )
            pending = decoder.unconsumed_tail
            if decoder.eof and decoder.unused_data:
                pending, decoder = decoder.unused_data, zlib.decompressobj(16 + zlib.MAX_WBITS)
    except zlib.error as exc:
        raise BodyError(400, "invalid_gzip", f"the gzip body is corrupt: {exc}") from None
    if not decoder.eof:
        raise BodyError(400, "invalid_gzip", "the gzip body is truncated", payload=bytes(out))
    return bytes(out)


def parse_raw(raw: bytes) -> Document:
    """The body's JSON document, or a BodyError (400) that keeps the body."""
    if not raw.strip():
        raise BodyError(400, "invalid_json", "the body is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # Bytes that are not UTF-8 become lone surrogates (U+DC80-U+DCFF), so only the events
        # holding them are rejected (as not valid Unicode) and the rest of the batch is kept.
        text = raw.decode("utf-8", "surrogateescape")
    try:
        return parse_document(text)
    except InvalidJSON as exc:
        raise BodyError(400, "invalid_json", str(exc), payload=raw) from None


def is_segment_batch(document: Document) -> bool:
    """A Segment batch ({"batch": [...]}) posted to /v1/batch, which native batches share."""
    value = document.value
    return isinstance(value, dict) and "batch" in value and "events" not in value


def parse_segment(call: Call | None, document: Document, raw: bytes) -> Body:
    """The events of a Segment body: one message of CALL, or {"batch": [...]} when None."""
    value = document.value
    if not isinstance(value, dict):
        raise BodyError(400, "invalid_body", "the body must be a JSON object", payload=raw)
    if call is not None:
        messages: list[object] = [value]
    else:
        batch = value.get("batch")
        if not isinstance(batch, list):
            raise BodyError(
                400,
                "invalid_batch",
                'the body must be {"batch": [...]}',
                field="batch",
                payload=raw,
                document=value,
            )
        if len(batch) > SEGMENT_MAX_BATCH_EVENTS:
            raise BodyError(
                413,
                "too_many_events",
                f"the batch holds {len(batch)} messages; the limit is {SEGMENT_MAX_BATCH_EVENTS}",
                field="batch",
                payload=raw,
                document=value,
            )
        messages = batch
    sent_at = value.get("sentAt") if call is None else None
    events = [segment_api.to_beacon(message, call, sent_at) for message in messages]
    return Body(events, None, None, document.suspect, originals=messages)


def parse_body(kind: Kind, raw: bytes) -> Body:
    """The events of a /v1/events body (one event object) or a /v1/batch body."""
    return native_body(kind, parse_raw(raw), raw)


def native_body(kind: Kind, document: Document, raw: bytes) -> Body:
    """parse_body for a body already parsed (ingest parses once, then looks at its shape)."""
    value = document.value
    if kind == "single":
        if not isinstance(value, dict):
            raise BodyError(400, "invalid_body", "the body must be one event object", payload=raw)
        return Body([value], None, _valid_timestamp_text(value.get("sent_at")), document.suspect)
    return _batch(document, raw)


def _batch(document: Document, raw: bytes) -> Body:
    value = document.value
    if not isinstance(value, dict):
        raise BodyError(400, "invalid_batch", 'the body must be {"events": [...]}', payload=raw)
    if isinstance(value, DuplicateKeys):
        keys = [key for key, _ in value.pairs]
        repeated = next(key for index, key in enumerate(keys) if key in keys[:index])
        raise BodyError(
            400,
            "invalid_batch",
            f"duplicate key '{repeated}' in the batch object",
            field=repeated,
            payload=raw,
            document=value,
        )
    unknown = sorted(set(value) - {"events", "sent_at"})
    if unknown:
        raise BodyError(
            400,
            "invalid_batch",
            f"unknown field '{unknown[0]}'",
            field=unknown[0],
            payload=raw,
            document=value,
        )
    events = value.get("events")
    if not isinstance(events, list) or not events:
        raise BodyError(
            400,
            "invalid_batch",
            "events must be a non-empty list of event objects",
            field="events",
            payload=raw,
            document=value,
        )
    if len(events) > MAX_BATCH_EVENTS:
        raise BodyError(
            413,
            "too_many_events",
            f"the batch holds {len(events)} events; the limit is {MAX_BATCH_EVENTS}",
            field="events",
            payload=raw,
            document=value,
        )
    sent_text = value.get("sent_at")
    try:
        sent_at = None if sent_text is None else parse_timestamp(sent_text)
        if sent_at is not None:
            sent_at.astimezone(UTC)  # the load reads it in UTC
    except OverflowError:
        raise BodyError(
            400,
            "invalid_batch",
            "sent_at in UTC falls outside the years 0001 to 9999",
            field="sent_at",
            payload=raw,
            document=value,
        ) from None
    except TimestampError as exc:
        raise BodyError(
            400,
            "invalid_batch",
            f"sent_at {exc}",
            field="sent_at",
            payload=raw,
            document=value,
        ) from None
    text = sent_text if isinstance(sent_text, str) else None
    return Body(events, sent_at, text, document.suspect)


def _valid_timestamp_text(value: object) -> str | None:
    """The event's own sent_at for the envelope, only when valid (the event may be rejected)."""
    if value is None:  # the common case; skips raising and catching a TimestampError
        return None
    try:
        parse_timestamp(value).astimezone(UTC)  # the load reads it in UTC
    except (TimestampError, OverflowError):
        return None
    return value if isinstance(value, str) else None
