"""Routing of the query function: dashboard page, static files, token check, cache, reports.

GET /            the dashboard page (no token: the page asks for one)
GET /assets/X    the page's script and style sheet (files of static/)
GET /healthz     liveness
GET /v1/...      JSON reports behind an admin bearer token, cached per instance
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask

from functions import runtime
from functions.query import auth, export, health, insights, reports
from functions.query.cache import ResponseCache
from functions.query.costs import CostRecorder
from functions.query.params import ParamError
from functions.query.values import strict_json

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
_MIMETYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
INSIGHTS = "/v1/insights"
_USER_PATH = re.compile(r"^/v1/users/(?P<user>.+)/engagement$")
_PAGE_HEADERS = {
    # The page is self-contained: its own script and styles, data from this origin only.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class _State:
    cache: ResponseCache
    costs: CostRecorder


_state: _State | None = None
_state_lock = threading.Lock()


def state() -> _State:
    """The instance's cache and cost recorder, made on first use from the settings."""
    global _state
    with _state_lock:
        if _state is None:
            settings = runtime.get_settings()
            _state = _State(ResponseCache(settings.cache_seconds), CostRecorder(_warehouse))
            _state.costs.flush_at_exit()
        return _state


def _warehouse() -> Any:
    return runtime.get_warehouse()


def json_response(
    body: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> flask.Response:
    return flask.Response(
        strict_json(body),
        status,
        mimetype="application/json",
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            **(headers or {}),
        },
    )


def error(
    status: int, code: str, message: str, field: str | None = None, **headers: str
) -> flask.Response:
    body = {"error": code, "message": message, "field": field}
    return json_response(body, status, headers)


def handle(request: flask.Request) -> flask.Response:
    path = request.path.rstrip("/") or "/"
    if request.method not in {"GET", "HEAD"}:
        return error(405, "method_not_allowed", "use GET", Allow="GET, HEAD")
    if path == "/healthz":
        return json_response({"status": "ok"})
    if path in {"/", "/index.html"}:
        return _static("index.html")
    if path.startswith("/assets/"):
        # Not /static/: Flask's own static route, under functions-framework, answers that prefix.
        return _static(path.removeprefix("/assets/"))
    if not path.startswith("/v1/"):
        return error(404, "not_found", f"nothing at {path}")
    settings = runtime.get_settings()
    denied = auth.authorise(request.headers.get("Authorization"), auth.accepted_tokens(settings))
    if denied == 401:
        return error(
            401,
            "unauthorized",
            "send Authorization: Bearer <admin token>",
            None,
            **{"WWW-Authenticate": 'Bearer realm="beacon"'},
        )
    if denied == 403:
        return error(403, "forbidden", "the admin token is not valid")
    return _cached_report(path, request)


def _static(name: str) -> flask.Response:
    files = _static_files()
    if name not in files:
        return error(404, "not_found", f"no static file {name!r}")
    body, mimetype = files[name]
    # The page is tiny and changes with each deploy: revalidate rather than serve a stale one.
    headers = {**_PAGE_HEADERS, "Cache-Control": "no-cache"}
    return flask.Response(body, 200, mimetype=mimetype, headers=headers)


_static_cache: dict[str, tuple[bytes, str]] = {}


def _static_files() -> dict[str, tuple[bytes, str]]:
    # Only files present in static/ at start are served, by exact name: no path reaches open().
    if not _static_cache:
        for file in STATIC_DIR.iterdir():
            if file.is_file() and file.suffix in _MIMETYPES:
                _static_cache[file.name] = (file.read_bytes(), _MIMETYPES[file.suffix])
    return _static_cache


def _cached_report(path: str, request: flask.Request) -> flask.Response:
    current = state()
    multi = request.args.to_dict(flat=False)
    args = {key: values[0] for key, values in multi.items()}
    # Only insights takes a parameter more than once (filter); elsewhere a repeat is a mistake.
    if path != INSIGHTS and any(len(values) > 1 for values in multi.values()):
        return error(400, "invalid_parameter", "give each parameter once", None)
    key = path + "?" + "&".join(f"{k}={v}" for k, vs in sorted(multi.items()) for v in vs)
    hit = current.cache.get(key)
    if hit is not None:
        entry, remaining = hit
        headers = dict(entry.headers)
        headers["Cache-Control"] = f"private, max-age={remaining}"
        headers["X-Beacon-Cache"] = "hit"
        return flask.Response(entry.body, 200, mimetype=entry.mimetype, headers=headers)
    try:
        body, mimetype, headers = _run(path, args, multi, current)
    except ParamError as exc:
        return error(400, exc.code, exc.message, exc.field)
    except reports.NotFound as exc:
        return error(404, "not_found", exc.message, exc.field)
    except _UnknownReport as exc:
        return error(404, "not_found", str(exc))
    except Exception:
        logger.exception("report %s failed", path)
        return error(500, "query_failed", "the report could not be computed; see the logs")
    current.cache.put(key, body, mimetype, tuple(headers.items()))
    ttl = int(current.cache.ttl)
    cache_control = f"private, max-age={ttl}" if ttl > 0 else "no-store"
    return flask.Response(
        body,
        200,
        mimetype=mimetype,
        headers={**headers, "Cache-Control": cache_control, "X-Beacon-Cache": "miss"},
    )


class _UnknownReport(LookupError):
    pass


def _run(
    path: str, args: dict[str, str], multi: dict[str, list[str]], current: _State
) -> tuple[bytes, str, dict[str, str]]:
    """Compute one report: (body, mimetype, extra headers)."""
    settings = runtime.get_settings()
    currency = settings.reporting_currency
    warehouse = runtime.get_warehouse()
    name = path.removeprefix("/v1/")
    queries = reports.Queries(warehouse, name, current.costs.record, currency=currency)
    user = _USER_PATH.match(path)
    if user is not None:
        queries.endpoint = "engagement"
        body = reports.user_engagement(queries, user.group("user"), args)
        return _json_body(body, queries.bytes_billed)
    if name == "export":
        return _export(args, queries)
    if name == "health":
        queries.endpoint = "health"
        return _json_body(health.health(queries, args), queries.bytes_billed)
    if path == INSIGHTS:
        return _json_body(
            insights.run(queries, multi, settings.max_bytes_billed), queries.bytes_billed
        )
    report = reports.REPORTS.get(name)
    if report is None:
        raise _UnknownReport(f"no report at {path}")
    return _json_body(report.run(queries, args), queries.bytes_billed)


def _json_body(body: reports.Body, bytes_billed: int) -> tuple[bytes, str, dict[str, str]]:
    data = strict_json({**body, "bytes_billed": bytes_billed})
    return data.encode(), "application/json", {"X-Beacon-Bytes-Billed": str(bytes_billed)}


def _export(args: dict[str, str], queries: reports.Queries) -> tuple[bytes, str, dict[str, str]]:
    rest = {k: v for k, v in args.items() if k not in {"report", "format"}}
    name = args.get("report", "")
    report = reports.REPORTS.get(name)
    if report is None:
        known = ", ".join(sorted(reports.REPORTS))
        raise ParamError("report", f"report must be one of {known}")
    fmt = args.get("format") or "csv"
    if fmt not in {"csv", "json"}:
        raise ParamError("format", "format must be csv or json")
    queries.endpoint = f"export/{name}"
    rows = report.table(report.run(queries, rest))
    filename = f"beacon-{name.replace('/', '-')}.{fmt}"
    headers = {
        "X-Beacon-Bytes-Billed": str(queries.bytes_billed),
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    if fmt == "csv":
        return export.to_csv(rows).encode(), "text/csv", headers
    body = {"report": name, "rows": rows, "bytes_billed": queries.bytes_billed}
    return strict_json(body).encode(), "application/json", headers
