"""JSON responses of the ingest function, and its one structured log line per request."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

import flask

RETRY_AFTER_SECONDS = "5"
_RESPONSE_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def json_response(
    body: Mapping[str, Any], status: int, headers: Mapping[str, str] | None = None
) -> flask.Response:
    # backslashreplace: a lone surrogate a client sent (echoed in an id) stays a JSON \u escape.
    data = _RESPONSE_JSON.encode(body).encode("utf-8", "backslashreplace")
    # An iterator body marks the response as streamed, which stops functions-framework's
    # read_request hook from reading the whole request body before answering: a refused body
    # (413, 401, 415) must not be read into memory. Gunicorn later discards what is left of it
    # in small chunks if the client reuses the connection.
    return flask.Response(
        iter([data]),
        status,
        mimetype="application/json",
        headers={**(headers or {}), "Content-Length": str(len(data))},
    )


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> flask.Response:
    return json_response({"error": code, "message": message}, status, headers)


_LOG_JSON = json.JSONEncoder(separators=(",", ":"), default=str)  # built once, not per line


def log_request(**fields: Any) -> None:
    """One JSON line per request on stdout: status, counts, source. Never payloads or keys.

    Cloud Logging turns a JSON line on stdout into a structured entry (its "severity" key sets
    the level). The line is written directly rather than through `logging`: in a profile under
    load, the logger's record, formatter and handler lock took about a quarter of the handler's
    time, and gunicorn's threads queued on that lock, held across the write and the flush. One
    write() of the whole line keeps concurrent lines whole; the flush sends each out as before.
    """
    status = int(fields.get("status", 0))
    severity = "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"
    line = _LOG_JSON.encode({"severity": severity, "message": "ingest request", **fields})
    out = sys.stdout  # looked up per call, so a redirected stdout (tests, tools) is honoured
    out.write(line + "\n")
    out.flush()
