"""Entry point of the public ingest function: POST /v1/events, POST /v1/batch, GET /healthz."""

from __future__ import annotations

import flask
import functions_framework

from functions.ingest.body import Kind
from functions.ingest.cors import ALLOWED_METHODS, cors_headers, preflight_headers
from functions.ingest.handler import handle_post
from functions.ingest.responses import error_response, json_response
from functions.runtime import get_settings

ROUTES: dict[str, Kind] = {"/v1/events": "single", "/v1/batch": "batch"}


@functions_framework.http
def ingest(request: flask.Request) -> flask.Response:
    if request.path == "/healthz":
        if request.method in ("GET", "HEAD"):
            return json_response({"status": "ok"}, 200)
        return error_response(405, "method_not_allowed", "use GET", {"Allow": "GET, HEAD"})
    kind = ROUTES.get(request.path)
    if kind is None:
        return error_response(404, "not_found", f"no endpoint at {request.path}")
    origin = request.headers.get("Origin")
    settings = get_settings()
    if request.method == "OPTIONS":
        return flask.Response(
            status=204, headers=preflight_headers(origin, settings.allowed_origins)
        )
    headers = cors_headers(origin, settings.allowed_origins)
    if request.method != "POST":
        return error_response(
            405, "method_not_allowed", "use POST", {**headers, "Allow": ALLOWED_METHODS}
        )
    return handle_post(request, kind, headers, settings)
