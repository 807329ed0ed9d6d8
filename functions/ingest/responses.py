"""JSON responses of the ingest function, and its one structured log line per request."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from typing import Any

import flask

RETRY_AFTER_SECONDS = "5"
_RESPONSE_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def json_response(
    body: Mapping[str, Any], status: int, headers: Mapping[str, str] | None = None
) -> flask.Response:
    data = _RESPONSE_JSON.encode(body).encode()
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


def _request_logger() -> logging.Logger:
    # Own handler on stdout: gunicorn leaves the root logger at WARNING, and Cloud Logging turns
    # a JSON line on stdout into a structured entry (its "severity" key sets the level).
    logger = logging.getLogger("beacon.ingest.requests")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


_LOGGER = _request_logger()
_LOG_JSON = json.JSONEncoder(separators=(",", ":"), default=str)  # built once, not per line


def log_request(**fields: Any) -> None:
    """One JSON line per request: status, counts, source. Never payloads or keys."""
    status = int(fields.get("status", 0))
    severity = "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"
    line = {"severity": severity, "message": "ingest request", **fields}
    _LOGGER.info(_LOG_JSON.encode(line))
