"""Entry point of the private rollup function, called by Cloud Scheduler (or `beacon jobs run`)."""

from __future__ import annotations

import flask
import functions_framework

from functions.jobs import dispatch

ROUTES = {
    "/v1/jobs/rollup": "functions.rollup.runner:handle_rollup",
    "/v1/jobs/retention": "functions.rollup.retention:handle_retention",
    "/v1/jobs/gdpr/delete": "functions.rollup.gdpr:handle_delete",
    "/v1/jobs/gdpr/export": "functions.rollup.gdpr:handle_export",
}


@functions_framework.http
def rollup(request: flask.Request) -> flask.Response:
    return dispatch(request, ROUTES)
