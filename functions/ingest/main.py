"""Entry point of the public ingest function: Beacon's POST /v1/events and /v1/batch, Segment's
HTTP Tracking API (/v1/track, /v1/page, ..., the analytics.js and RudderStack paths), GET /healthz.
"""

from __future__ import annotations

import flask
import functions_framework

from functions.ingest import segment_api
from functions.ingest.cors import ALLOWED_METHODS, cors_headers, preflight_headers
from functions.ingest.handler import Route, handle_post
from functions.ingest.responses import error_response, json_response
from functions.runtime import get_settings

ROUTES: dict[str, Route] = {
    "/v1/events": Route("native", "single"),
    "/v1/batch": Route("native", "batch"),  # a Segment {"batch": [...]} body is told apart
    **{
        path: Route("segment", "batch", None if target == "batch" else target)
        for path, target in segment_api.PATHS.items()
        if target != "metrics"
    },
}
METRICS = frozenset(p for p, target in segment_api.PATHS.items() if target == "metrics")


@functions_framework.http
def ingest(request: flask.Request) -> flask.Response:
    if request.path == "/healthz":
        if request.method in ("GET", "HEAD"):
            return json_response({"status": "ok"}, 200)
        return error_response(405, "method_not_allowed", "use GET", {"Allow": "GET, HEAD"})
    route = ROUTES.get(request.path)
    if route is None and request.path not in METRICS:
        return error_response(404, "not_found", f"no endpoint at {request.path}")
    origin = request.headers.get("Origin")
    settings = get_settings()
    if request.method == "OPTIONS":
        requested = request.headers.get("Access-Control-Request-Headers")
        return flask.Response(
            status=204, headers=preflight_headers(origin, settings.allowed_origins, requested)
        )
    headers = cors_headers(origin, settings.allowed_origins)
    if request.method != "POST":
        return error_response(
            405, "method_not_allowed", "use POST", {**headers, "Allow": ALLOWED_METHODS}
        )
    if route is None:  # analytics.js's own metrics: answered so it does not retry, and dropped
        return json_response({"success": True}, 200, headers)
    return handle_post(request, route, headers, settings)
