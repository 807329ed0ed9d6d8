"""The flow of one POST: authenticate, read, validate, publish, answer.

Rejections travel to bad_events only for authenticated requests (anyone could fill the table
otherwise). Everything a request produced is published in a single call, so when the bus
refuses, nothing is accepted and the client is told to retry (503).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import flask

from functions.bad_events import bad_event_row
from functions.bus import BusUnavailable, Message
from functions.ingest import records
from functions.ingest.auth import CHALLENGE, authenticate
from functions.ingest.body import BodyError, Kind, check_content_type, parse_body, read_body
from functions.ingest.responses import (
    RETRY_AFTER_SECONDS,
    error_response,
    json_response,
    log_request,
)
from functions.runtime import get_publisher
from functions.schema import FieldError, validate_events
from functions.settings import Settings


def handle_post(
    request: flask.Request, kind: Kind, headers: dict[str, str], settings: Settings
) -> flask.Response:
    source = authenticate(
        request.headers.get("Authorization"), request.args.get("key"), settings.write_keys
    )
    if source is None:
        log_request(path=request.path, status=401, accepted=0, rejected=0, source=None)
        return error_response(
            401,
            "unauthorized",
            "a valid write key is required (Authorization: Bearer KEY, Basic, or ?key=KEY)",
            {**headers, "WWW-Authenticate": CHALLENGE},
        )

    now = datetime.now(UTC)
    received_at = now.isoformat()
    request_id = records.new_request_id()
    headers = {**headers, "X-Request-Id": request_id}
    log = {"path": request.path, "source": source, "request_id": request_id}

    try:
        check_content_type(request.mimetype, request.mimetype_params)
        raw = read_body(
            request.stream, request.content_length, request.headers.get("Content-Encoding")
        )
        body = parse_body(kind, raw)
    except BodyError as err:
        row = bad_event_row(
            received_at=received_at,
            source=source,
            request_id=request_id,
            reason=err.code,
            errors=[FieldError(err.field, err.message).to_dict()],
            payload=err.payload,
        )
        bad = records.messages(
            source=source,
            request_id=request_id,
            received_at=received_at,
            sent_at=None,
            accepted=[],
            bad_rows=[row],
        )
        if not _publish(bad):
            return _unavailable(headers, log)
        log_request(**log, status=err.status, accepted=0, rejected=0, error=err.code)
        return error_response(err.status, err.code, err.message, headers)

    accepted, rejected = validate_events(body.events, received_at=now, sent_at=body.sent_at)
    records.fill_ip(
        accepted, records.client_ip(request.headers.get("X-Forwarded-For"), request.remote_addr)
    )
    bad_rows = records.rejection_rows(
        rejected, body.events, received_at=received_at, source=source, request_id=request_id
    )
    out = records.messages(
        source=source,
        request_id=request_id,
        received_at=received_at,
        sent_at=body.sent_at_text,
        accepted=accepted,
        bad_rows=bad_rows,
    )
    if not _publish(out):
        return _unavailable(headers, log)
    status = 202 if accepted else 400
    log_request(**log, status=status, accepted=len(accepted), rejected=len(rejected))
    answer = {"accepted": len(accepted), "rejected": [r.to_dict() for r in rejected]}
    return json_response(answer, status, headers)


def _publish(messages: list[Message]) -> bool:
    """Publish all messages in one call; False when the bus refused (nothing was stored)."""
    try:
        get_publisher().publish(messages)
    except BusUnavailable:
        return False
    return True


def _unavailable(headers: dict[str, str], log: Mapping[str, object]) -> flask.Response:
    log_request(**log, status=503, accepted=0, rejected=0, error="bus_unavailable")
    return error_response(
        503,
        "unavailable",
        "the event bus refused the request; nothing was accepted, retry later",
        {**headers, "Retry-After": RETRY_AFTER_SECONDS},
    )
