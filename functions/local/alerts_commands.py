"""`beacon alerts [--dry-run]`: run the alert checks once, exactly as `beacon jobs run alerts`.

Locally that POSTs to the running `beacon dev`'s alerts function (which holds the DuckDB file's
lock) and serves the request in this process only when nothing listens on the alerts port; with
BEACON_BACKEND=gcp it asks Cloud Scheduler to run the deployed `alerts` job.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from functions.local.devserver.jobs_client import JobRunError, note_how, print_json, run_job
from functions.registry import function_named
from functions.settings import SettingsError


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
