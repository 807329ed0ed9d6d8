"""The flow of one POST: authenticate, read, validate, publish, answer.

Rejections travel to bad_events only for authenticated requests (anyone could fill the table
otherwise). Everything a request produced is published in a single call, so when the bus
refuses, nothing is accepted and the client is told to retry (503).

A bug of ours must not lose a request either: an unexpected exception is logged with the request
id and its traceback, and the raw body is parked in bad_events (reason internal_error) before
the client is told 500, so the events can be replayed from there.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import flask

from functions.bad_events import bad_event_row, user_keys
from functions.bus import BusFull, BusUnavailable, Message
from functions.ids import uuid4_hex
from functions.ingest import fastpath, records
from functions.ingest.auth import CHALLENGE, authenticate
from functions.ingest.body import (
    Body,
    BodyError,
    Kind,
    check_content_type,
    is_segment_batch,
    native_body,
    parse_raw,
    parse_segment,
    read_body,
)
from functions.ingest.responses import (
    RETRY_AFTER_SECONDS,
    error_response,
    json_response,
    log_request,
)
from functions.ingest.segment_api import SEGMENT_MAX_REQUEST_BYTES, Call
from functions.runtime import get_publisher
from functions.schema import MAX_REQUEST_BYTES, FieldError, Rejection, validate_events
from functions.settings import Settings

MAX_LISTED_REJECTIONS = 20  # an answer lists this many rejections in full and counts the rest
MAX_LISTED_ERRORS = 10  # and this many errors of each (bad_events keeps them all)


@dataclass(frozen=True)
class Route:
    """What a path accepts: Beacon's own events, or Segment's calls (see ingest/segment_api.py)."""

    protocol: Literal["native", "segment"]
    kind: Kind  # native: single or batch
    call: Call | None = None  # segment: the call of a one-message path; None: a batch

    @property
    def takes_segment(self) -> bool:
        """Whether a Segment body may come: Segment's paths, and /v1/batch, which both share."""
        return self.protocol == "segment" or self.kind == "batch"


def handle_post(
    request: flask.Request, route: Route, headers: dict[str, str], settings: Settings
) -> flask.Response:
    query_key = request.args.get("key") or request.args.get("writeKey")
    source = authenticate(request.headers.get("Authorization"), query_key, settings.write_keys)
    read: list[bytes] = []  # the raw body once read, for the internal-error path
    if source is None and route.takes_segment:
        # Segment's SDKs may send the key only in the body, as `writeKey`.
        source = _key_in_body(request, settings, read)
    if source is None:
        log_request(path=request.path, status=401, accepted=0, rejected=0, source=None)
        return error_response(
            401,
            "unauthorized",
            "a valid write key is required (Authorization: Bearer KEY, Basic, or ?key=KEY)",
            {**headers, "WWW-Authenticate": CHALLENGE},
        )

    now = datetime.now(UTC)
    request_id = uuid4_hex()
    headers = {**headers, "X-Request-Id": request_id}
    log = {"path": request.path, "source": source, "request_id": request_id}
    try:
        return _accept(request, route, source, now, request_id, headers, log, settings, read)
    except Exception as exc:
        return _internal_error(exc, source, now, request_id, headers, log, read)


def _key_in_body(request: flask.Request, settings: Settings, read: list[bytes]) -> str | None:
    try:
        raw = _read(request)
        read.append(raw)
        document = parse_raw(raw).value
    except BodyError:
        return None  # unauthenticated: nothing of it is stored
    key = document.get("writeKey") if isinstance(document, dict) else None
    return authenticate(None, key if isinstance(key, str) else None, settings.write_keys)


def _read(request: flask.Request) -> bytes:
    return read_body(
        request.stream,
        request.content_length,
        request.headers.get("Content-Encoding"),
        limit=SEGMENT_MAX_REQUEST_BYTES,
    )


def _accept(
    request: flask.Request,
    route: Route,
    source: str,
    now: datetime,
    request_id: str,
    headers: dict[str, str],
    log: Mapping[str, object],
    settings: Settings,
    read: list[bytes],
) -> flask.Response:
    received_at = now.isoformat()
    try:
        refused_type: BodyError | None = None
        try:
            check_content_type(request.mimetype, request.mimetype_params)
        except BodyError as err:
            if not route.takes_segment:
                raise
            refused_type = err  # Segment's SDKs label JSON as they like; decided by the body
        if read:
            raw = read[0]
        elif route.takes_segment:
            raw = _read(request)
            read.append(raw)
        else:
            raw = read_body(
                request.stream, request.content_length, request.headers.get("Content-Encoding")
            )
            read.append(raw)
        fast = None
        if route.protocol == "native" and refused_type is None:
            fast = fastpath.accept(route.kind, raw, now)
        if fast is None:
            body = _body(route, raw, refused_type)
    except BodyError as err:
        row = bad_event_row(
            received_at=received_at,
            source=source,
            request_id=request_id,
            reason=err.code,
            errors=[FieldError(err.field, err.message).to_dict()],
            payload=err.payload,
            keys=None if err.document is None else user_keys(err.document),
        )
        bad = records.messages(
            source=source,
            request_id=request_id,
            received_at=received_at,
            sent_at=None,
            accepted=[],
            bad_rows=[row],
        )
        if (refused := _publish(bad)) is not None:
            return _unavailable(refused, headers, log)
        log_request(**log, status=err.status, accepted=0, rejected=0, error=err.code)
        return error_response(err.status, err.code, err.message, headers)

    if fast is not None:
        accepted, sent_at_text = fast.records, fast.sent_at_text
        is_segment = False  # the hot path takes native bodies only
        rejected: list[Rejection] = []
        bad_rows: list[dict[str, Any]] = []
    else:
        is_segment = body.originals is not None  # Segment's messages were translated
        accepted, rejected = validate_events(
            body.events, received_at=now, sent_at=body.sent_at, suspect=body.suspect
        )
        sent_at_text = body.sent_at_text
        bad_rows = records.rejection_rows(
            rejected,
            body.original,
            received_at=received_at,
            source=source,
            request_id=request_id,
            suspect=body.suspect,
        )
    address = records.client_ip(
        request.headers.get("X-Forwarded-For"), request.remote_addr, settings.trusted_proxies
    )
    records.fill_ip(accepted, address)
    out = records.messages(
        source=source,
        request_id=request_id,
        received_at=received_at,
        sent_at=sent_at_text,
        accepted=accepted,
        bad_rows=bad_rows,
    )
    if (refused := _publish(out)) is not None:
        return _unavailable(refused, headers, log)
    if is_segment:
        # Segment's SDKs count exactly 200 as delivered (RudderStack's Python SDK retries any
        # other 2xx); 400 only when nothing of it can ever be accepted.
        status = 200 if accepted or not rejected else 400
        reply = {"success": status == 200, **answer(len(accepted), rejected)}
    else:
        status = 202 if accepted else 400
        reply = answer(len(accepted), rejected)
    log_request(**log, status=status, accepted=len(accepted), rejected=len(rejected))
    return json_response(reply, status, headers)


def _body(route: Route, raw: bytes, refused_type: BodyError | None) -> Body:
    """The slow path's events of RAW: parsed once, whichever protocol it turns out to be."""
    is_segment = route.protocol == "segment"
    try:
        document = parse_raw(raw)
    except BodyError:
        if refused_type is not None:
            raise refused_type from None
        raise
    if not is_segment:
        is_segment = is_segment_batch(document)
        if not is_segment and refused_type is not None:
            raise refused_type
        if not is_segment and len(raw) > MAX_REQUEST_BYTES:
            raise BodyError(
                413, "too_large", f"the body exceeds {MAX_REQUEST_BYTES} bytes", payload=raw
            )
    if is_segment:
        return parse_segment(route.call, document, raw)
    return native_body(route.kind, document, raw)


def answer(accepted: int, rejected: list[Rejection]) -> dict[str, object]:
    """The client's answer, bounded: a 500-event batch of bad events stays a few kilobytes."""
    listed = []
    for rejection in rejected[:MAX_LISTED_REJECTIONS]:
        shown = rejection.to_dict()
        errors = shown["errors"]
        if len(errors) > MAX_LISTED_ERRORS:
            more = len(errors) - MAX_LISTED_ERRORS
            shown["errors"] = [
                *errors[:MAX_LISTED_ERRORS],
                {"field": "event", "message": f"and {more} more errors"},
            ]
        listed.append(shown)
    return {"accepted": accepted, "rejected_count": len(rejected), "rejected": listed}


def _internal_error(
    exc: Exception,
    source: str,
    now: datetime,
    request_id: str,
    headers: dict[str, str],
    log: Mapping[str, object],
    read: list[bytes],
) -> flask.Response:
    """Log a bug of ours with its traceback, park the body in bad_events, answer 500."""
    trace = "".join(traceback.format_exception(exc))
    row = bad_event_row(
        received_at=now.isoformat(),
        source=source,
        request_id=request_id,
        reason="internal_error",
        errors=[{"field": "body", "message": f"{type(exc).__name__}: {exc}"[:1000]}],
        payload=read[0] if read else b"",
        keys=None,
    )
    message = records.messages(
        source=source,
        request_id=request_id,
        received_at=now.isoformat(),
        sent_at=None,
        accepted=[],
        bad_rows=[row],
    )
    try:
        parked = _publish(message) is None
    except Exception:  # the bus itself failing in a new way: the log line still says so
        parked = False
    log_request(
        **log,
        status=500,
        accepted=0,
        rejected=0,
        error="internal_error",
        parked=parked,
        trace=trace,
    )
    kept = "the body was kept in bad_events" if parked else "nothing was stored"
    return error_response(
        500,
        "internal_error",
        f"ingest failed on this request ({kept}); retry later, quoting request id {request_id}",
        headers,
    )


def _publish(messages: list[Message]) -> BusUnavailable | None:
    """Publish all messages in one call; the bus's refusal (nothing was stored), else None."""
    try:
        get_publisher().publish(messages)
    except BusUnavailable as refused:
        return refused
    return None


def _unavailable(
    refused: BusUnavailable, headers: dict[str, str], log: Mapping[str, object]
) -> flask.Response:
    full = isinstance(refused, BusFull)
    code = "bus_full" if full else "bus_unavailable"
    log_request(**log, status=503, accepted=0, rejected=0, error=code)
    why = "the event queue is full (the load is behind)" if full else "the event bus refused it"
    return error_response(
        503,
        "unavailable",
        f"{why}; nothing of this request was accepted, retry later",
        {**headers, "Retry-After": RETRY_AFTER_SECONDS},
    )
