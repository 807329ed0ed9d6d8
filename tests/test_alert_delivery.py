"""Alert state and mail: cooldown, one resolved mail, SMTP outages, a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from functions.alerts.mailer import Mailer
from functions.alerts.runner import run_alerts
from functions.alerts.state import history
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.local.smtp_sink import SmtpSink, free_port
from functions.settings import Settings
from tests.support.rows import event_row

NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
DASHBOARD = "https://beacon.example.com/dashboard"


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail") as sink:
        yield sink


@pytest.fixture
def settings(tmp_path: Path, sink: SmtpSink) -> Settings:
    # Silence is the one check an empty warehouse trips at noon; it drives these tests.
    return Settings(
        data_dir=tmp_path,
        alert_recipients=("ops@example.com", "oncall@example.com"),
        alert_from="beacon@example.com",
        dashboard_url=DASHBOARD,
        smtp_port=sink.port,
        smtp_security="none",  # the sink speaks plain SMTP
        alert_cooldown_minutes=60,
    )


def fast_mailer(settings: Settings) -> Mailer:
    return Mailer(settings, attempts=3, backoff_seconds=0.01, timeout_seconds=2)


def run(warehouse: DuckDBWarehouse, settings: Settings, now: datetime, **kwargs):
    return run_alerts(warehouse, settings, now=now, mailer=fast_mailer(settings), **kwargs)


def receive_event(warehouse: DuckDBWarehouse, at: datetime) -> None:
    warehouse.insert_rows("events", [event_row(at)])


def silence_rows(warehouse: DuckDBWarehouse) -> list:
    rows = history(warehouse, NOW - timedelta(days=1))
    return [row for row in reversed(rows) if row.check_name == "silence"]


def test_firing_alert_is_mailed_with_text_and_html_parts_and_dashboard_link(
    warehouse, settings, sink
):
    summary = run(warehouse, settings, NOW)
    assert summary["mails_sent"] == 1
    [mail] = sink.messages()
    assert mail["Subject"].startswith("[Beacon][CRITICAL] minutes without events")
    assert "over 30 min" in mail["Subject"]
    assert mail["To"] == "ops@example.com, oncall@example.com"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert DASHBOARD in text
    assert f"href='{DASHBOARD}'" in html
    assert "events_in_window: 0" in text
    assert "<th align='left'>threshold</th><td>30 min</td>" in html


def test_still_firing_alert_is_not_mailed_again_within_cooldown(warehouse, settings, sink):
    run(warehouse, settings, NOW)
    run(warehouse, settings, NOW + timedelta(minutes=5))
    run(warehouse, settings, NOW + timedelta(minutes=59))
    assert len(sink.messages()) == 1
    assert len(silence_rows(warehouse)) == 1


def test_still_firing_alert_reminds_once_the_cooldown_has_passed(warehouse, settings, sink):
    run(warehouse, settings, NOW)
    run(warehouse, settings, NOW + timedelta(minutes=60))
    mails = sink.messages()
    assert len(mails) == 2
    assert all(mail["Subject"].startswith("[Beacon][CRITICAL]") for mail in mails)
    first, reminder = silence_rows(warehouse)
    assert reminder.figures["firing_since"] == first.fired_at.isoformat()


def test_alert_that_stops_firing_sends_exactly_one_resolved_mail(warehouse, settings, sink):
    run(warehouse, settings, NOW)
    receive_event(warehouse, NOW + timedelta(minutes=4))
    for minutes in (5, 10, 15):
        run(warehouse, settings, NOW + timedelta(minutes=minutes))
    subjects = [mail["Subject"] for mail in sink.messages()]
    assert len(subjects) == 2
    assert subjects[1].startswith("[Beacon][RESOLVED] minutes without events")
    assert [row.status for row in silence_rows(warehouse)] == ["firing", "resolved"]


def test_dry_run_writes_and_mails_nothing(warehouse, settings, sink):
    summary = run(warehouse, settings, NOW, dry_run=True)
    [silence] = [check for check in summary["checks"] if check["name"] == "silence"]
    assert silence["action"] == "notify"
    assert sink.messages() == []
    assert silence_rows(warehouse) == []


def test_mail_is_delivered_exactly_once_after_smtp_comes_back(warehouse, settings, tmp_path):
    down = replace(settings, smtp_port=free_port())  # nothing listens there
    first = run(warehouse, down, NOW)
    assert first["mails_pending"] == 1
    [row] = silence_rows(warehouse)
    assert not row.sent
    assert row.attempts == 3
    with SmtpSink(tmp_path / "later") as later:
        up = replace(settings, smtp_port=later.port)
        run(warehouse, up, NOW + timedelta(minutes=5))
        run(warehouse, up, NOW + timedelta(minutes=10))
        assert len(later.messages()) == 1
    [row] = silence_rows(warehouse)
    assert row.sent
    assert row.sent_at == NOW + timedelta(minutes=5)


def test_alert_without_recipients_is_kept_unsent_until_some_are_configured(
    warehouse, settings, sink
):
    nobody = replace(settings, alert_recipients=())
    summary = run(warehouse, nobody, NOW)
    assert summary["mails_pending"] == 1
    assert sink.messages() == []
    run(warehouse, settings, NOW + timedelta(minutes=5))
    assert len(sink.messages()) == 1
    assert len(silence_rows(warehouse)) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_mailer_logs_in_when_a_user_is_set(warehouse, settings, tmp_path):
    with SmtpSink(tmp_path / "auth", users={"beacon": "s3cret"}) as guarded:
        wrong = replace(settings, smtp_port=guarded.port, smtp_user="beacon", smtp_password="no")
        run(warehouse, wrong, NOW)
        assert guarded.messages() == []
        right = replace(wrong, smtp_password="s3cret")
        run(warehouse, right, NOW + timedelta(minutes=5))
        assert len(guarded.messages()) == 1
