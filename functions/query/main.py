"""Entry point of the query function: dashboard JSON and the dashboard page, behind admin tokens.

The handler only hands the request to `functions.query.app`; the reports, their SQL and the
page live beside it.
"""

from __future__ import annotations

import flask
import functions_framework

from functions.query.app import handle


@functions_framework.http
def query(request: flask.Request) -> flask.Response:
    return handle(request)
