"""Entry point of the private rollup function, called by Cloud Scheduler (or `beacon jobs run`)."""

from __future__ import annotations

import flask
import functions_framework

from functions.jobs import JobHandler, dispatch
from functions.rollup.gdpr import handle_delete, handle_export
from functions.rollup.retention import handle_retention
from functions.rollup.runner import handle_rollup

ROUTES: dict[str, JobHandler] = {
    "/v1/jobs/rollup": handle_rollup,
    "/v1/jobs/retention": handle_retention,
    "/v1/jobs/gdpr/delete": handle_delete,
    "/v1/jobs/gdpr/export": handle_export,
}


@functions_framework.http
def rollup(request: flask.Request) -> flask.Response:
    return dispatch(request, ROUTES)
