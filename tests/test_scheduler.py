"""The local scheduler: which jobs are due when, and firing them as Cloud Scheduler does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from functions.local.devserver.scheduler import CronTable, HttpFire, LocalScheduler, summarize
from functions.schedules import SCHEDULES, ScheduledJob


def at(hh: int, mm: int, ss: float = 0.0) -> datetime:
    return datetime(2025, 6, 2, hh, mm, tzinfo=UTC) + timedelta(seconds=ss)


def names(jobs: list[ScheduledJob]) -> set[str]:
    return {job.name for job in jobs}


def test_jobs_fire_when_their_cron_comes_due() -> None:
    table = CronTable(SCHEDULES, start=at(12, 4, 30))
    assert names(table.due(at(12, 4, 59))) == set()
    assert names(table.due(at(12, 5))) == {"alerts", "rollup-today"}
    assert names(table.due(at(12, 5, 30))) == set()
    assert names(table.due(at(12, 10))) == {"alerts"}


def test_daily_jobs_fire_at_their_utc_time() -> None:
    table = CronTable(SCHEDULES, start=at(2, 29))
    assert "rollup" in names(table.due(at(2, 30)))
    assert "retention" in names(table.due(at(3, 0)))


def test_a_slot_missed_while_asleep_fires_once_not_once_per_slot() -> None:
    table = CronTable(SCHEDULES, start=at(12, 0, 1))
    woke = table.due(at(14, 7))
    assert [job.name for job in woke].count("alerts") == 1
    assert names(table.due(at(14, 7, 30))) == set()
    assert table.seconds_until_next(at(14, 7, 30)) == pytest.approx(150.0)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment


@pytest.fixture
def recorder(port: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback HTTP server that records every request, standing in for a function."""
    seen: list[dict[str, Any]] = []

    @Request.application  # type: ignore[misc]
    def app(request: Request) -> Response:
        seen.append(
            {
                "method": request.method,
                "path": request.path,
                "body": json.loads(request.get_data() or b"null"),
                "agent": request.headers.get("User-Agent"),
            }
        )
        return Response('{"ok":true}', mimetype="application/json")

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", seen
    server.shutdown()
    thread.join()


def test_scheduler_posts_the_job_body_to_the_function_when_the_clock_reaches_its_cron(
    recorder: tuple[str, list[dict[str, Any]]],
) -> None:
    url, seen = recorder
    clock = FakeClock(at(12, 4, 59.5))
    rollup_today = next(job for job in SCHEDULES if job.name == "rollup-today")
    scheduler = LocalScheduler([rollup_today], HttpFire({"rollup": url}), clock=clock)
    scheduler.start()
    try:
        time.sleep(0.3)
        assert seen == []  # not due yet
        clock.set(at(12, 5))
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        scheduler.stop()
    assert seen == [
        {
            "method": "POST",
            "path": "/v1/jobs/rollup",
            "body": {"days": 1},
            "agent": "Google-Cloud-Scheduler",
        }
    ]
    assert scheduler.fired == [("rollup-today", at(12, 5))]


def test_a_failing_job_is_logged_and_fires_again_at_its_next_slot() -> None:
    clock = FakeClock(at(12, 4, 59.9))
    calls: list[str] = []

    def fire(job: ScheduledJob) -> None:
        calls.append(job.name)
        raise RuntimeError("function answered 500")

    alerts = next(job for job in SCHEDULES if job.name == "alerts")
    scheduler = LocalScheduler([alerts], fire, clock=clock)
    scheduler.start()
    try:
        for slot in (at(12, 5), at(12, 10)):
            clock.set(slot)
            deadline = time.monotonic() + 5
            while len(scheduler.fired) < (1 if slot.minute == 5 else 2):
                assert time.monotonic() < deadline
                time.sleep(0.02)
    finally:
        scheduler.stop()
    assert calls == ["alerts", "alerts"]


def test_job_answers_are_summarised_in_one_short_line() -> None:
    alerts = {
        "checks": [
            {"name": "error_rate", "firing": True, "mail": "sent", "status": "firing"},
            {"name": "latency_p95", "firing": False, "mail": None, "status": None},
        ],
        "errors": [],
    }
    rollup = {
        "start": "2026-11-23",
        "end": "2026-11-25",
        "tables": {"a": 1, "b": 2},
        "seconds": 0.2,
    }
    retention = {
        "today": "2026-11-25",
        "dry_run": False,
        "tables": {"events": {"rows": 5}, "bad_events": {"rows": 2}},
    }
    assert summarize(json.dumps(alerts)) == "firing: error_rate; mailed: error_rate firing"
    assert summarize(json.dumps(rollup)) == "2026-11-23..2026-11-25: 2 tables in 0.2 s"
    assert summarize(json.dumps(retention)) == "deleted 7 rows past retention in 2 tables"
    assert summarize("not json " * 100) == ("not json " * 100)[:200]
