"""`beacon gdpr delete --user-id ID` and `beacon gdpr export --user-id ID [--output FILE]`.

Locally each POSTs to the running `beacon dev`'s rollup function (port BEACON_ROLLUP_PORT), the
same mechanism as `beacon jobs run`, and serves the request in this process against the DuckDB
file only when nothing listens there. With BEACON_BACKEND=gcp there is no scheduler job to ask:
the command erases or exports directly in BigQuery with the operator's credentials.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from functions.jobs import JobInputError
from functions.local.devserver.jobs_client import (
    JobOutcome,
    JobRunError,
    call_function,
    note_how,
    print_json,
)
from functions.registry import function_named
from functions.settings import Settings, SettingsError

PATHS = {"delete": "/v1/jobs/gdpr/delete", "export": "/v1/jobs/gdpr/export"}


def request(action: str, user_id: str) -> JobOutcome:
    """Serve one privacy request: through the rollup function locally, in BigQuery on GCP."""
    settings = Settings.from_env(os.environ)
    body = {"user_id": user_id}
    if settings.backend == "gcp":
        return _on_bigquery(action, body, settings)
    return call_function("rollup", PATHS[action], body, settings, os.environ)


def _on_bigquery(action: str, body: dict[str, Any], settings: Settings) -> JobOutcome:
    # The handlers the rollup function routes to, so the answer has the same shape; they open
    # BigQuery through runtime with this process's (the operator's) credentials.
    from functions.rollup.gdpr import handle_delete, handle_export

    handler = handle_delete if action == "delete" else handle_export
    target = f"{settings.gcp_project}.{settings.dataset}"
    try:
        answer = handler(body)
    except JobInputError as exc:  # answered as the function would: 400
        return JobOutcome(
            "bigquery", target, 400, {"error": "invalid_request", "message": str(exc)}
        )
    return JobOutcome("bigquery", target, 200, answer)


def _outcome(command: str, action: str, user_id: str) -> JobOutcome | None:
    try:
        outcome = request(action, user_id)
    except (JobRunError, SettingsError) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return None
    note_how(command, "rollup", outcome)
    return outcome


def _delete(args: argparse.Namespace) -> int:
    outcome = _outcome("beacon gdpr delete", "delete", args.user_id)
    if outcome is None:
        return 1
    print_json(outcome.body)
    return 0 if outcome.status == 200 else 1


def _export(args: argparse.Namespace) -> int:
    outcome = _outcome("beacon gdpr export", "export", args.user_id)
    if outcome is None:
        return 1
    if outcome.status != 200:
        # Not on standard output: that is the export's JSON lines, often piped into a file.
        print(json.dumps(outcome.body, indent=2, default=str), file=sys.stderr)
        return 1
    events = outcome.body["events"]
    rejected = outcome.body.get("bad_events", [])
    # One JSON object a line: the events, then each rejected payload as {"bad_event": {...}}.
    lines = [*events, *({"bad_event": row} for row in rejected)]
    text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(
            f"{len(events)} events and {len(rejected)} rejected payloads written to {args.output}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return 0


def register(subparsers: Any) -> None:
    port = function_named("rollup").local_port
    gdpr = subparsers.add_parser(
        "gdpr",
        help="erase or export one user's data",
        description=(
            "Erase or export one user's data. Locally, POST to the running `beacon dev`'s "
            f"rollup function (port BEACON_ROLLUP_PORT, default {port}), else serve the "
            "request in this process against the local DuckDB file. With BEACON_BACKEND=gcp "
            "there is no Cloud Scheduler job for these: the command works directly in BigQuery "
            "(BEACON_GCP_PROJECT, BEACON_DATASET) with your own credentials. Exits 1 unless "
            "the request succeeded, printing the answer."
        ),
    )
    actions = gdpr.add_subparsers(dest="gdpr_command", metavar="ACTION", required=True)
    delete = actions.add_parser(
        "delete", help="erase the user from every table and recompute the rollups they touched"
    )
    delete.add_argument("--user-id", required=True, help="user_id or anonymous_id to erase")
    delete.set_defaults(handler=_delete)
    export = actions.add_parser(
        "export",
        help='write the user\'s events, then their rejected payloads ({"bad_event": ...}), '
        "as JSON lines",
    )
    export.add_argument("--user-id", required=True, help="user_id or anonymous_id to export")
    export.add_argument("--output", help="file to write (default: standard output)")
    export.set_defaults(handler=_export)
