"""`beacon alerts [--dry-run]`: run the alert checks once.

`beacon dev` holds the DuckDB file's lock while it runs, so the command first asks the running
dev server's alerts function over HTTP and opens the warehouse itself only when nothing answers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from functions import runtime

DEFAULT_ALERTS_URL = "http://127.0.0.1:8083/v1/jobs/alerts"
HTTP_TIMEOUT_SECONDS = 300.0


class JobFailed(RuntimeError):
    """The running function answered, but with an error."""


def post_or_run(
    url: str, body: Mapping[str, Any], direct: Callable[[], Mapping[str, Any]]
) -> Mapping[str, Any]:
    """POST body to a running function; when nothing listens there, run `direct` in-process."""
    try:
        response = requests.post(url, json=dict(body), timeout=HTTP_TIMEOUT_SECONDS)
    except requests.ConnectionError:
        return direct()
    if response.status_code != 200:
        raise JobFailed(f"{url} answered {response.status_code}: {response.text[:500]}")
    answer: Mapping[str, Any] = response.json()
    return answer


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _run(args: argparse.Namespace) -> int:
    from functions.alerts.runner import run_alerts

    url = os.environ.get("BEACON_ALERTS_URL", "") or DEFAULT_ALERTS_URL

    def direct() -> Mapping[str, Any]:
        warehouse, settings = runtime.get_warehouse(), runtime.get_settings()
        return run_alerts(warehouse, settings, now=datetime.now(UTC), dry_run=args.dry_run)

    try:
        summary = post_or_run(url, {"dry_run": args.dry_run}, direct)
    except JobFailed as exc:
        print(f"beacon alerts: {exc}", file=sys.stderr)
        return 1
    print_json(summary)
    return 1 if summary.get("errors") else 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "alerts",
        help="run the alert checks once and mail what changed",
        description=(
            "Run the alert checks once. Asks the running `beacon dev` (BEACON_ALERTS_URL, "
            f"default {DEFAULT_ALERTS_URL}) first, else runs against the local warehouse."
        ),
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="judge the checks but write and mail nothing"
    )
    parser.set_defaults(handler=_run)
