"""The alerts job over real HTTP (functions-framework), and `beacon alerts` both ways."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from functions import runtime
from functions.alerts.smtp_sink import SmtpSink, free_port
from functions.cli import main
from tests.support.serve import serve_function


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail") as sink:
        yield sink


@pytest.fixture
def env(tmp_path: Path, sink: SmtpSink) -> dict[str, str]:
    # All-day working hours: an empty warehouse then trips the silence check whatever the time.
    return {
        "BEACON_BACKEND": "local",
        "BEACON_DATA_DIR": str(tmp_path / "data"),
        "BEACON_SMTP_PORT": str(sink.port),
        "BEACON_ALERT_RECIPIENTS": "ops@example.com",
        "BEACON_WORKING_HOURS": "00-24",
    }


@pytest.fixture
def clean_runtime(monkeypatch, env) -> Iterator[None]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    yield
    warehouse = runtime._warehouse
    if warehouse is not None:
        warehouse.close()
    runtime.reset()


def test_alerts_job_mails_once_then_respects_cooldown_and_answers_400_on_bad_body(env, sink):
    with serve_function("alerts", env) as base_url:
        url = base_url + "/v1/jobs/alerts"
        dry = requests.post(url, json={"dry_run": True}, timeout=60)
        assert dry.status_code == 200
        assert dry.json()["dry_run"] is True
        assert sink.messages() == []
        first = requests.post(url, json={}, timeout=60)
        second = requests.post(url, json={}, timeout=60)
        bad = requests.post(url, json={"dry_run": "yes"}, timeout=60)
    assert first.status_code == 200 and first.json()["mails_sent"] == 1
    assert second.status_code == 200 and second.json()["mails_sent"] == 0
    assert bad.status_code == 400
    [mail] = sink.messages()
    assert "minutes without events" in mail["Subject"]


def test_alerts_command_asks_the_running_function_first(env, sink, monkeypatch, capsys):
    with serve_function("alerts", env) as base_url:
        monkeypatch.setenv("BEACON_ALERTS_URL", base_url + "/v1/jobs/alerts")
        # The served function holds the DuckDB file; a direct run here could not open it.
        assert main(["alerts"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["mails_sent"] == 1
    assert len(sink.messages()) == 1


def test_alerts_command_runs_directly_when_nothing_listens(clean_runtime, monkeypatch, capsys):
    monkeypatch.setenv("BEACON_ALERTS_URL", f"http://127.0.0.1:{free_port()}/v1/jobs/alerts")
    assert main(["alerts", "--dry-run"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dry_run"] is True
    assert {check["name"] for check in summary["checks"]} == {
        "error_rate",
        "latency_p95",
        "revenue_drop",
        "cost",
        "silence",
    }
