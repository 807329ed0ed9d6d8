"""The live demo's error spike through the real load path, DuckDB, the alerts job and SMTP.

Time is simulated: events are loaded as ingest would have published them by each moment, and
the alerts job runs at the moments its cron names, so an hour of traffic takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.alerts.mailer import Mailer
from functions.alerts.runner import run_alerts
from functions.envelope import Envelope
from functions.load.core import load_messages
from functions.local.devserver.demo import SPIKE_SECONDS, live_events
from functions.local.devserver.scheduler import next_fire
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.local.smtp_sink import SmtpSink
from functions.schedules import job_named
from functions.schema import validate_events
from functions.settings import Settings

# A weekday morning, in working hours, so the silence check judges too (and stays quiet).
START = datetime(2025, 3, 14, 10, 2, 30, tzinfo=UTC)
REQUEST_SECONDS = 10  # the live sender posts what is due about this often; coarser is fine here


class LiveIngest:
    """Publishes the live stream into the warehouse as ingest and the load worker would."""

    def __init__(self, warehouse: DuckDBWarehouse, stream: Iterator[dict[str, Any]]) -> None:
        self.warehouse = warehouse
        self.stream = stream
        self.upcoming = next(stream)
        self.clock = START
        self.requests = 0

    def advance_to(self, moment: datetime) -> None:
        while self.clock < moment:
            self.clock = min(moment, self.clock + timedelta(seconds=REQUEST_SECONDS))
            self._request(self.clock)

    def _request(self, received: datetime) -> None:
        due: list[dict[str, Any]] = []
        while _time(self.upcoming) < received:
            due.append(self.upcoming)
            self.upcoming = next(self.stream)
        if not due:
            return
        accepted, rejected = validate_events(due, received_at=received, sent_at=received)
        assert rejected == []
        self.requests += 1
        envelope = Envelope(
            kind="events",
            source="dev",
            request_id=f"req-{self.requests}",
            received_at=received.isoformat(),
            sent_at=received.isoformat(),
            records=accepted,
        )
        load_messages([envelope.to_message()], self.warehouse, now=received)


def _time(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["timestamp"])


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    store = DuckDBWarehouse(tmp_path / "beacon.duckdb")
    store.ensure_tables()
    yield store
    store.close()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail") as sink:
        yield sink


def test_spike_mails_one_alert_then_one_resolution_and_nothing_more(
    tmp_path: Path, warehouse: DuckDBWarehouse, sink: SmtpSink
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        alert_recipients=("dev@localhost",),
        smtp_port=sink.port,
        smtp_security="none",
    )
    mailer = Mailer(settings, attempts=3, backoff_seconds=0.01, timeout_seconds=5)
    ingest = LiveIngest(warehouse, live_events(seed=2024, start=START))
    cron = job_named("alerts").cron
    mails_after: dict[datetime, int] = {}
    run_at = next_fire(cron, START)
    while run_at <= START + timedelta(hours=2):
        ingest.advance_to(run_at)
        summary = run_alerts(warehouse, settings, now=run_at, mailer=mailer)
        assert summary["errors"] == {}
        mails_after[run_at] = len(list(sink.directory.glob("*.eml")))
        run_at = next_fire(cron, run_at)

    first_run = min(mails_after)
    assert first_run >= START + timedelta(seconds=SPIKE_SECONDS)  # the spike is over by then
    assert mails_after[first_run] == 1
    resolved_at = min(moment for moment, mails in mails_after.items() if mails == 2)
    assert timedelta(minutes=10) <= resolved_at - START <= timedelta(minutes=30)
    assert max(mails_after.values()) == 2
    subjects = [str(message["Subject"]) for message in sink.messages()]
    assert subjects[0].startswith("[Beacon][CRITICAL] error rate (last hour)")
    assert subjects[1].startswith("[Beacon][RESOLVED] error rate (last hour)")
    assert all(message["To"] == "dev@localhost" for message in sink.messages())
