"""The weekly report job over real HTTP: mailed once per week through a real SMTP server, figures
equal to those computed here from the raw events, and the mail rendered in headless Chromium."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.alerts.report import last_complete
from functions.local.smtp_sink import SmtpSink
from functions.schedules import job_named
from tests.support import pipeline_data
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.serve import REPO, serve_function

ARTIFACTS = REPO / "test-artifacts"
RECIPIENTS = "team@example.com,founder@example.com"
DASHBOARD = "https://beacon.example.com/"


@dataclass
class Prepared:
    directory: Path
    data: pipeline_data.PipelineData


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    directory = tmp_path_factory.mktemp("report")
    return Prepared(directory, pipeline_data.build(directory / "beacon.duckdb"))


def env_for(directory: Path, smtp_port: int) -> dict[str, str]:
    return {
        "BEACON_BACKEND": "local",
        "BEACON_DATA_DIR": str(directory),
        "BEACON_SMTP_PORT": str(smtp_port),
        "BEACON_SMTP_SECURITY": "none",
        "BEACON_ALERT_RECIPIENTS": "ops@example.com",
        "BEACON_REPORT_RECIPIENTS": RECIPIENTS,
        "BEACON_DASHBOARD_URL": DASHBOARD,
    }


@pytest.fixture
def copy(prepared: Prepared, tmp_path: Path) -> Path:
    shutil.copy(prepared.directory / "beacon.duckdb", tmp_path / "beacon.duckdb")
    return tmp_path


def week_figures(events: list[dict[str, Any]], start: date, end: date) -> dict[str, float]:
    """Events and USD revenue of start..end, counted here from what the clients sent."""
    seen: dict[str, dict[str, Any]] = {}
    for number, event in enumerate(events):
        seen.setdefault(event.get("event_id") or f"server-{number}", event)
    count, revenue = 0, 0.0
    for event in seen.values():
        day = datetime.fromisoformat(event["timestamp"]).astimezone(UTC).date()
        if start <= day <= end:
            count += 1
            if event.get("currency") == "USD":
                revenue += float(event.get("revenue") or 0)
    return {"events": count, "revenue": round(revenue, 2)}


def html_part(mail: EmailMessage) -> str:
    part = mail.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def text_part(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_weekly_report_is_a_scheduled_job_of_the_alerts_function() -> None:
    job = job_named("weekly-report")
    assert (job.function, job.path, job.body) == ("alerts", "/v1/jobs/report", {"period": "week"})
    assert job.cron == "0 7 * * 1"  # Mondays, 07:00 UTC: the week before is complete


def test_report_is_mailed_once_per_week_with_the_weeks_figures(
    prepared: Prepared, copy: Path, tmp_path: Path
) -> None:
    with (
        SmtpSink(tmp_path / "mail") as sink,
        serve_function("alerts", env_for(copy, sink.port)) as base_url,
    ):
        url = base_url + "/v1/jobs/report"
        dry = requests.post(url, json={"dry_run": True}, timeout=60)
        first = requests.post(url, json={}, timeout=60)
        second = requests.post(url, json={"period": "week"}, timeout=60)
        bad = requests.post(url, json={"period": "month"}, timeout=60)
    assert dry.status_code == 200 and dry.json()["mail"] == "not_sent_dry_run"
    assert first.status_code == 200 and first.json()["mail"] == "sent", first.text
    assert second.status_code == 200 and second.json()["mail"] == "already_sent"
    assert bad.status_code == 400 and "period" in bad.json()["message"]
    [mail] = sink.messages()
    assert mail["To"] == "team@example.com, founder@example.com"
    period = last_complete("week", datetime.now(UTC).date())
    assert first.json()["start"] == period.start.isoformat()
    assert mail["Message-ID"] == f"<report-week-{period.start}@beacon>"

    now = week_figures(prepared.data.events, period.start, period.end)
    before = week_figures(prepared.data.events, period.previous.start, period.previous.end)
    assert now["events"] > 0 and before["events"] > 0
    text = text_part(mail)
    events_line = re.search(r"Events: ([\d,]+) / ([\d,]+) / ", text)
    assert events_line is not None, text
    assert int(events_line.group(1).replace(",", "")) == now["events"]
    assert int(events_line.group(2).replace(",", "")) == before["events"]
    revenue_line = re.search(r"Revenue USD: ([\d,.]+) / ([\d,.]+) / ", text)
    assert revenue_line is not None, text
    assert float(revenue_line.group(1).replace(",", "")) == pytest.approx(now["revenue"])
    assert float(revenue_line.group(2).replace(",", "")) == pytest.approx(before["revenue"])
    change = 100 * (now["events"] - before["events"]) / before["events"]
    assert f"{change:+.1f} %" in mail["Subject"]
    assert f"Dashboard: {DASHBOARD}" in text


def test_report_mail_html_is_mail_safe_and_renders_in_chromium(copy: Path, tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with (
        SmtpSink(tmp_path / "mail") as sink,
        serve_function("alerts", env_for(copy, sink.port)) as base_url,
    ):
        assert requests.post(base_url + "/v1/jobs/report", json={}, timeout=60).ok
    [mail] = sink.messages()
    body = html_part(mail)
    lowered = body.lower()
    for forbidden in ("<script", "<svg", "<img", "<link", "<style", "javascript:", "url("):
        assert forbidden not in lowered, forbidden
    assert re.findall(r"href='([^']*)'", body) == [DASHBOARD]  # the one link: the dashboard
    problems: list[str] = []
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 720, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url))
            page.set_content(body)
            shown = page.inner_text("body")
            for heading in (
                "Key figures",
                "Revenue by currency",
                "Funnel: signup → search → payment",
                "Top searches without results",
                "Errors that grew most",
                "Open the dashboard",
            ):
                assert heading in shown
            bars = page.eval_on_selector_all(
                "td[bgcolor]", "cells => cells.map(c => c.getBoundingClientRect().width)"
            )
            assert bars and max(bars) > 100  # the largest bar of a section is drawn wide
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 720
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report-mail.png"), full_page=True)
        finally:
            browser.close()
    assert problems == [] and requested == []  # nothing fetched: no remote anything
    assert (ARTIFACTS / "report-mail.png").stat().st_size > 10_000


def test_smtp_down_fails_the_job_and_the_next_run_mails_the_week(
    copy: Path, tmp_path: Path
) -> None:
    sink = SmtpSink(tmp_path / "mail")  # not started yet: nothing listens on its port
    with serve_function("alerts", env_for(copy, sink.port)) as base_url:
        url = base_url + "/v1/jobs/report"
        down = requests.post(url, json={}, timeout=60)
        with sink:
            up = requests.post(url, json={}, timeout=60)
            again = requests.post(url, json={}, timeout=60)
    assert down.status_code == 500 and down.json()["error"] == "job_failed"
    assert up.status_code == 200 and up.json()["mail"] == "sent"
    assert again.json()["mail"] == "already_sent"
    assert len(sink.messages()) == 1


def test_yesterdays_report_on_demand(copy: Path, tmp_path: Path) -> None:
    with (
        SmtpSink(tmp_path / "mail") as sink,
        serve_function("alerts", env_for(copy, sink.port)) as base_url,
    ):
        today = datetime.now(UTC).date()
        answer = requests.post(
            base_url + "/v1/jobs/report", json={"period": "day", "date": str(today)}, timeout=60
        )
        bad = requests.post(base_url + "/v1/jobs/report", json={"date": "tomorrow"}, timeout=60)
    assert answer.status_code == 200 and answer.json()["mail"] == "sent"
    assert answer.json()["start"] == str(today - timedelta(days=1))
    assert bad.status_code == 400
    [mail] = sink.messages()
    assert mail["Subject"].strip().startswith(f"[Beacon] Day {today - timedelta(days=1)}:")
