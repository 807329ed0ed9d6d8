"""`beacon`: the command line. Each feature registers its own subcommands from its module."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from functions.settings import SettingsError

# Each module defines `register(subparsers)`, adding parsers whose `handler(args) -> int` runs them.
COMMAND_MODULES: tuple[str, ...] = (
    "functions.local.devserver.commands",  # beacon dev, beacon demo, beacon jobs run
    "functions.local.alerts_commands",  # beacon alerts
    "functions.local.gdpr_commands",  # beacon gdpr delete, beacon gdpr export
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="beacon",
        description="Beacon event analytics: run the whole pipeline locally, or operate it.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # A malformed BEACON_* variable is the user's to fix: say which, without a traceback.
    try:
        args = build_parser().parse_args(argv)
        return int(args.handler(args))
    except SettingsError as exc:
        print(f"beacon: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
