"""Entry point of the private alerts function, called by Cloud Scheduler (or `beacon alerts`)."""

from __future__ import annotations

import flask
import functions_framework

from functions.jobs import dispatch

ROUTES = {
    "/v1/jobs/alerts": "functions.alerts.runner:handle_alerts",
}


@functions_framework.http
def alerts(request: flask.Request) -> flask.Response:
    return dispatch(request, ROUTES)
