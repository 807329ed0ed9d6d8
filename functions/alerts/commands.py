"""`beacon alerts [--dry-run]`: run the alert checks once, exactly as `beacon jobs run alerts`.

Locally that POSTs to the running `beacon dev`'s alerts function (which holds the DuckDB file's
lock) and serves the request in this process only when nothing listens on the alerts port; with
BEACON_BACKEND=gcp it asks Cloud Scheduler to run the deployed `alerts` job.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from functions.devserver.jobs_client import JobOutcome, JobRunError, run_job
from functions.registry import function_named
from functions.settings import SettingsError


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def note_how(command: str, function: str, outcome: JobOutcome) -> None:
    """Say on standard error where the request went; standard output stays the JSON answer."""
    if outcome.how == "in-process":
        print(
            f"{command}: no `beacon dev` answered on the {function} port; "
            f"ran in this process on {outcome.target}",
            file=sys.stderr,
        )
    elif outcome.how == "cloud-scheduler":
        print(
            f"{command}: asked Cloud Scheduler to run {outcome.target}; it runs with its "
            "deployed body and reports in the function's logs",
            file=sys.stderr,
        )
    elif outcome.how == "bigquery":
        print(f"{command}: ran directly in BigQuery {outcome.target}", file=sys.stderr)
    if outcome.status != 200:
        print(f"{command}: the {function} function answered {outcome.status}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    try:
        outcome = run_job("alerts", dry_run=args.dry_run)
    except (JobRunError, SettingsError) as exc:
        print(f"beacon alerts: {exc}", file=sys.stderr)
        return 1
    note_how("beacon alerts", "alerts", outcome)
    print_json(outcome.body)
    # A check whose query failed is listed under "errors"; the run is then a failure too.
    return 0 if outcome.status == 200 and not outcome.body.get("errors") else 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "alerts",
        help="run the alert checks once and mail what changed",
        description=(
            "Run the alert checks once, as `beacon jobs run alerts` does: POST to the running "
            "`beacon dev`'s alerts function (port BEACON_ALERTS_PORT, default "
            f"{function_named('alerts').local_port}), else run "
            "it in this process against the local DuckDB file. With BEACON_BACKEND=gcp, ask "
            "Cloud Scheduler to run the deployed alerts job (BEACON_GCP_PROJECT, "
            "BEACON_GCP_REGION). Prints the JSON answer (on GCP, the scheduler job's state); "
            "exits 1 unless the answer was 200 without errors."
        ),
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="judge the checks but write and mail nothing (local runs only)",
    )
    parser.set_defaults(handler=_run)
