"""`beacon gdpr delete --user-id ID` and `beacon gdpr export --user-id ID [--output FILE]`.

Like `beacon alerts`, each asks the running `beacon dev`'s rollup function first
(BEACON_ROLLUP_URL, default http://127.0.0.1:8082) and opens the warehouse itself only when
nothing answers there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from functions import runtime
from functions.alerts.commands import JobFailed, post_or_run, print_json

DEFAULT_ROLLUP_URL = "http://127.0.0.1:8082"


def _base_url() -> str:
    return (os.environ.get("BEACON_ROLLUP_URL", "") or DEFAULT_ROLLUP_URL).rstrip("/")


def _delete(args: argparse.Namespace) -> int:
    from functions.rollup.gdpr import delete_user

    def direct() -> Mapping[str, Any]:
        return delete_user(runtime.get_warehouse(), runtime.get_settings(), args.user_id)

    try:
        summary = post_or_run(
            _base_url() + "/v1/jobs/gdpr/delete", {"user_id": args.user_id}, direct
        )
    except JobFailed as exc:
        print(f"beacon gdpr delete: {exc}", file=sys.stderr)
        return 1
    print_json(summary)
    return 0


def _export(args: argparse.Namespace) -> int:
    from functions.rollup.gdpr import export_user

    def direct() -> Mapping[str, Any]:
        lines = export_user(runtime.get_warehouse(), runtime.get_settings(), args.user_id)
        return {"events": [json.loads(line) for line in lines]}

    try:
        answer = post_or_run(
            _base_url() + "/v1/jobs/gdpr/export", {"user_id": args.user_id}, direct
        )
    except JobFailed as exc:
        print(f"beacon gdpr export: {exc}", file=sys.stderr)
        return 1
    text = "".join(json.dumps(event, sort_keys=True) + "\n" for event in answer["events"])
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"{len(answer['events'])} events written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def register(subparsers: Any) -> None:
    gdpr = subparsers.add_parser(
        "gdpr", help="erase or export one user's data", description=__doc__
    )
    actions = gdpr.add_subparsers(dest="gdpr_command", metavar="ACTION", required=True)
    delete = actions.add_parser(
        "delete", help="erase the user from every table and recompute the rollups they touched"
    )
    delete.add_argument("--user-id", required=True, help="user_id or anonymous_id to erase")
    delete.set_defaults(handler=_delete)
    export = actions.add_parser("export", help="write the user's events as JSON lines")
    export.add_argument("--user-id", required=True, help="user_id or anonymous_id to export")
    export.add_argument("--output", help="file to write (default: standard output)")
    export.set_defaults(handler=_export)
