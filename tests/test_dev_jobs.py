"""`beacon jobs run`: over HTTP to a running function, in-process against DuckDB, or on Cloud
Scheduler (tested at the call level only: a fake client stands in for CloudSchedulerClient)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from functions.local.cli import main
from functions.local.devserver.jobs_client import JobRunError, run_job


@pytest.fixture
def fake_function(port: int) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """A loopback server standing in for a running function; records what it was sent."""
    seen: list[dict[str, Any]] = []

    @Request.application  # type: ignore[misc]
    def app(request: Request) -> Response:
        seen.append({"path": request.path, "body": json.loads(request.get_data())})
        return Response('{"checked": 5}', mimetype="application/json")

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield port, seen
    server.shutdown()
    thread.join()


def local_env(tmp_path: Path, **ports: int) -> dict[str, str]:
    env = {"BEACON_BACKEND": "local", "BEACON_DATA_DIR": str(tmp_path)}
    env.update({f"BEACON_{name.upper()}_PORT": str(value) for name, value in ports.items()})
    return env


def test_posts_the_scheduled_body_to_the_running_function(
    fake_function: tuple[int, list[dict[str, Any]]], tmp_path: Path
) -> None:
    port, seen = fake_function
    outcome = run_job("alerts", dry_run=True, env=local_env(tmp_path, alerts=port))
    assert (outcome.how, outcome.status, outcome.body) == ("http", 200, {"checked": 5})
    assert outcome.target == f"http://127.0.0.1:{port}/v1/jobs/alerts"
    assert seen == [{"path": "/v1/jobs/alerts", "body": {"dry_run": True}}]


def test_an_explicit_range_replaces_the_schedules_trailing_days(
    fake_function: tuple[int, list[dict[str, Any]]], tmp_path: Path
) -> None:
    port, seen = fake_function
    run_job(
        "rollup-today",
        start=date(2025, 1, 1),
        end=date(2025, 1, 31),
        env=local_env(tmp_path, rollup=port),
    )
    assert seen == [
        {"path": "/v1/jobs/rollup", "body": {"start": "2025-01-01", "end": "2025-01-31"}}
    ]


def test_flags_a_job_would_ignore_are_refused(tmp_path: Path) -> None:
    with pytest.raises(JobRunError, match="no dry-run"):
        run_job("rollup", dry_run=True, env=local_env(tmp_path))
    with pytest.raises(JobRunError, match="no --start"):
        run_job("alerts", start=date(2025, 1, 1), env=local_env(tmp_path))
    with pytest.raises(JobRunError, match="known jobs: rollup-today, rollup"):
        run_job("nightly", env=local_env(tmp_path))


def test_runs_in_process_against_duckdb_when_nothing_listens(tmp_path: Path, port: int) -> None:
    outcome = run_job(
        "rollup",
        start=date(2025, 1, 1),
        end=date(2025, 1, 3),
        env=local_env(tmp_path, rollup=port),
    )
    assert (outcome.how, outcome.status) == ("in-process", 200)
    assert outcome.target == str(tmp_path / "beacon.duckdb")
    # The file was closed with a checkpoint: another process may open it straight away.
    with duckdb.connect(str(tmp_path / "beacon.duckdb"), read_only=True) as db:
        tables = {row[0] for row in db.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert {"events", "daily_kpis"} <= tables


@pytest.fixture
def held_database(tmp_path: Path) -> Iterator[Path]:
    """tmp_path/beacon.duckdb, held open by another process for the test's duration."""
    path = tmp_path / "beacon.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; db = duckdb.connect(sys.argv[1]); print('open', flush=True);"
            " time.sleep(60)",
            str(path),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"open\n"
        yield path
    finally:
        holder.kill()
        holder.wait()


def test_a_database_held_by_another_process_gets_a_clear_message(
    held_database: Path, tmp_path: Path, port: int
) -> None:
    with pytest.raises(JobRunError, match="locked by another process") as raised:
        run_job("alerts", env=local_env(tmp_path, alerts=port))
    assert f"nothing answered at http://127.0.0.1:{port}/v1/jobs/alerts" in str(raised.value)
    assert "set BEACON_ALERTS_PORT to its alerts port" in str(raised.value)


@pytest.mark.parametrize(
    ("argv", "variable"),
    [
        (["alerts"], "BEACON_ALERTS_PORT"),
        (["jobs", "run", "retention"], "BEACON_ROLLUP_PORT"),
        (["gdpr", "delete", "--user-id", "alice"], "BEACON_ROLLUP_PORT"),
        (["gdpr", "export", "--user-id", "alice"], "BEACON_ROLLUP_PORT"),
    ],
)
def test_every_command_reports_a_held_database_and_exits_1(
    held_database: Path,
    tmp_path: Path,
    port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    variable: str,
) -> None:
    for name, value in local_env(tmp_path, alerts=port, rollup=port).items():
        monkeypatch.setenv(name, value)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"{held_database} is locked by another process" in err
    assert f"set {variable}" in err


class FakeSchedulerClient:
    """Records run_job calls the way google.cloud.scheduler_v1.CloudSchedulerClient takes them."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def run_job(self, *, name: str) -> Any:
        self.names.append(name)
        return type("Job", (), {"name": name, "state": type("State", (), {"name": "ENABLED"})})()


def test_on_gcp_asks_cloud_scheduler_to_run_the_deployed_job() -> None:
    client = FakeSchedulerClient()
    env = {
        "BEACON_BACKEND": "gcp",
        "BEACON_GCP_PROJECT": "acme-analytics",
        "BEACON_GCP_REGION": "europe-west1",
    }
    outcome = run_job("retention", env=env, scheduler_client=client)
    resource = "projects/acme-analytics/locations/europe-west1/jobs/retention"
    assert client.names == [resource]
    assert (outcome.how, outcome.target, outcome.body["state"]) == (
        "cloud-scheduler",
        resource,
        "ENABLED",
    )


def test_on_gcp_local_only_flags_are_refused_before_calling_anything() -> None:
    client = FakeSchedulerClient()
    env = {"BEACON_BACKEND": "gcp", "BEACON_GCP_PROJECT": "acme-analytics"}
    with pytest.raises(JobRunError, match="deployed body"):
        run_job("rollup", start=date(2025, 1, 1), env=env, scheduler_client=client)
    assert client.names == []


def test_on_gcp_beacon_alerts_asks_cloud_scheduler_to_run_the_alerts_job(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from google.cloud import scheduler_v1

    client = FakeSchedulerClient()
    monkeypatch.setattr(scheduler_v1, "CloudSchedulerClient", lambda: client)
    monkeypatch.setenv("BEACON_BACKEND", "gcp")
    monkeypatch.setenv("BEACON_GCP_PROJECT", "acme-analytics")
    monkeypatch.setenv("BEACON_GCP_REGION", "europe-west1")
    assert main(["alerts"]) == 0
    resource = "projects/acme-analytics/locations/europe-west1/jobs/alerts"
    assert client.names == [resource]
    assert json.loads(capsys.readouterr().out) == {"job": resource, "state": "ENABLED"}


def test_on_gcp_beacon_alerts_dry_run_is_refused_naming_only_that_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BEACON_BACKEND", "gcp")
    monkeypatch.setenv("BEACON_GCP_PROJECT", "acme-analytics")
    assert main(["alerts", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "deployed body; --dry-run only applies to local runs" in err
    assert "--start" not in err
