"""A tiny router shared by the scheduled functions (rollup, alerts): POST path -> job handler.

Cloud Scheduler POSTs a JSON body to a path of a private function; each handler takes that body
and returns a JSON-able summary. Bad input raises JobInputError (answered 400); any other
exception is a fault, answered 500 so that Cloud Scheduler records the failure and retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import flask

logger = logging.getLogger(__name__)

JobHandler = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class JobInputError(ValueError):
    """The job's request body is invalid; the message names the field."""


def parse_dry_run(body: Mapping[str, Any]) -> bool:
    """The optional `dry_run` flag of a job body (alerts, retention); false when absent."""
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise JobInputError("dry_run must be true or false")
    return dry_run


def parse_date(body: Mapping[str, Any], name: str) -> date | None:
    """An optional YYYY-MM-DD field of a job body (rollup's start/end, the report's date)."""
    raw = body.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise JobInputError(f"{name} must be a YYYY-MM-DD string, got {raw!r}")
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise JobInputError(f"{name} must be a YYYY-MM-DD date, got {raw!r}")


def dispatch(request: flask.Request, routes: Mapping[str, JobHandler]) -> flask.Response:
    """Answer GET /healthz, and POST to one of `routes` (path -> handler)."""
    if request.path == "/healthz":
        return _json({"status": "ok"}, 200)
    handler = routes.get(request.path)
    if handler is None:
        return _json({"error": "not_found", "message": f"no job at {request.path}"}, 404)
    if request.method != "POST":
        return _json({"error": "method_not_allowed", "message": "use POST"}, 405, {"Allow": "POST"})
    raw = request.get_data(cache=False) or b"{}"
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _json({"error": "invalid_json", "message": "the body is not JSON"}, 400)
    if not isinstance(body, dict):
        return _json({"error": "invalid_json", "message": "the body must be a JSON object"}, 400)
    try:
        result = handler(body)
    except JobInputError as exc:
        return _json({"error": "invalid_request", "message": str(exc)}, 400)
    except Exception:
        logger.exception("job %s failed", request.path)
        return _json({"error": "job_failed", "message": f"the job at {request.path} failed"}, 500)
    return _json(dict(result), 200)


def _json(
    body: Mapping[str, Any], status: int, headers: Mapping[str, str] | None = None
) -> flask.Response:
    return flask.Response(
        json.dumps(body, default=str),
        status,
        mimetype="application/json",
        headers=dict(headers or {}),
    )
