"""Entry point of the private alerts function, called by Cloud Scheduler (or `beacon alerts`)."""

from __future__ import annotations

import flask
import functions_framework

from functions.alerts.report import handle_report
from functions.alerts.runner import handle_alerts
from functions.jobs import JobHandler, dispatch

ROUTES: dict[str, JobHandler] = {
    "/v1/jobs/alerts": handle_alerts,
    "/v1/jobs/report": handle_report,
}


@functions_framework.http
def alerts(request: flask.Request) -> flask.Response:
    return dispatch(request, ROUTES)
