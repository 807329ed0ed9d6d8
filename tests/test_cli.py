"""The `beacon` command line as a user meets it: help, and clear errors for bad settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEACON = [sys.executable, "-m", "functions.local.cli"]


def run_beacon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BEACON, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_help_lists_every_command() -> None:
    result = run_beacon("--help")
    assert result.returncode == 0
    for command in ("dev", "demo", "jobs", "alerts", "gdpr"):
        assert command in result.stdout


def test_malformed_variable_is_one_line_naming_it_and_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "BEACON_LIVE_RATE": "fast", "BEACON_DATA_DIR": str(tmp_path)}
    result = run_beacon("dev", "--help", env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("beacon: BEACON_LIVE_RATE")


def test_malformed_port_variable_is_reported_for_jobs_too() -> None:
    env = {**os.environ, "BEACON_ROLLUP_PORT": "eighty"}
    result = run_beacon("jobs", "run", "rollup", env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "BEACON_ROLLUP_PORT must be an integer" in result.stderr


def test_the_readme_settings_table_is_the_declared_settings() -> None:
    from functions.settings import settings_table
    from tests.support.serve import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- settings table: generated from functions/settings.py -->\n")
    end = readme.index("<!-- end of settings table -->")
    table = readme[start:end].split("\n", 1)[1]
    assert table == settings_table(), "regenerate the README table from settings_table()"
