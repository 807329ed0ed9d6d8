"""The alerts job over real HTTP (functions-framework), and `beacon alerts` both ways: to the
function on BEACON_ALERTS_PORT, and in this process when nothing listens there."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from functions.local.cli import main
from functions.local.smtp_sink import SmtpSink
from tests.support.serve import serve_function


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail") as sink:
        yield sink


@pytest.fixture
def env(tmp_path: Path, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # All-day working hours: an empty warehouse then trips the silence check whatever the time.
    # Set here too, for `beacon alerts` run in this process.
    values = {
        "BEACON_BACKEND": "local",
        "BEACON_DATA_DIR": str(tmp_path / "data"),
        "BEACON_SMTP_PORT": str(sink.port),
        "BEACON_SMTP_SECURITY": "none",
        "BEACON_ALERT_RECIPIENTS": "ops@example.com",
        "BEACON_WORKING_HOURS": "00-24",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


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


def test_alerts_command_asks_the_running_function_on_its_port(env, sink, monkeypatch, capsys):
    with serve_function("alerts", env) as base_url:
        monkeypatch.setenv("BEACON_ALERTS_PORT", str(urlsplit(base_url).port))
        # The served function holds the DuckDB file; an in-process run here could not open it.
        assert main(["alerts"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["mails_sent"] == 1
    assert "in this process" not in captured.err
    assert len(sink.messages()) == 1


def test_alerts_command_runs_in_process_when_nothing_listens(env, sink, monkeypatch, capsys, port):
    monkeypatch.setenv("BEACON_ALERTS_PORT", str(port))
    assert main(["alerts", "--dry-run"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["dry_run"] is True
    assert {check["name"] for check in summary["checks"]} == {
        "error_rate",
        "latency_p95",
        "revenue_drop",
        "cost",
        "silence",
    }
    assert "ran in this process on" in captured.err
    assert sink.messages() == []


def test_alerts_command_exits_1_and_prints_an_answer_other_than_200(monkeypatch, capsys, port):
    @Request.application  # type: ignore[misc]
    def failing(request: Request) -> Response:
        return Response(
            '{"error": "job_failed", "message": "the job at /v1/jobs/alerts failed"}',
            status=500,
            mimetype="application/json",
        )

    server = make_server("127.0.0.1", port, failing, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("BEACON_BACKEND", "local")
    monkeypatch.setenv("BEACON_ALERTS_PORT", str(port))
    try:
        assert main(["alerts"]) == 1
    finally:
        server.shutdown()
        thread.join()
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"] == "job_failed"
    assert "answered 500" in captured.err
