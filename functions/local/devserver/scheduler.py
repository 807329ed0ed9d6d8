"""The local stand-in for Cloud Scheduler: fire each entry of SCHEDULES on its cron, in UTC.

Firing means what Cloud Scheduler does in the cloud: POST the job's body as JSON to the function's
URL + path. A fire missed while the machine slept happens once on waking, not once per missed slot,
as the jobs recompute state rather than count invocations.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import requests
from croniter import croniter

from functions.schedules import ScheduledJob

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Fire = Callable[[ScheduledJob], None]

# Upper bound on one sleep, so a stopped or re-clocked scheduler notices within this many seconds.
MAX_SLEEP_SECONDS = 1.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def next_fire(cron: str, after: datetime) -> datetime:
    """The first time strictly after `after` that matches `cron` (UTC)."""
    fire_at: datetime = croniter(cron, after.astimezone(UTC)).get_next(datetime)
    return fire_at.astimezone(UTC)


class CronTable:
    """Which jobs are due at a given instant: pure, so cron arithmetic is tested without waiting."""

    def __init__(self, jobs: Sequence[ScheduledJob], start: datetime) -> None:
        self._jobs = list(jobs)
        self._due = {job.name: next_fire(job.cron, start) for job in self._jobs}

    def due(self, now: datetime) -> list[ScheduledJob]:
        """Jobs whose fire time has come; each is rescheduled for its next slot after `now`."""
        ready = [job for job in self._jobs if self._due[job.name] <= now]
        for job in ready:
            self._due[job.name] = next_fire(job.cron, now)
        return ready

    def seconds_until_next(self, now: datetime) -> float:
        if not self._due:
            return MAX_SLEEP_SECONDS
        return max(0.0, (min(self._due.values()) - now).total_seconds())


class LocalScheduler:
    """A daemon thread that fires jobs as their cron comes due, until stop()."""

    def __init__(
        self,
        jobs: Sequence[ScheduledJob],
        fire: Fire,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._jobs = jobs
        self._fire = fire
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired: list[tuple[str, datetime]] = []  # (job name, clock time), for status and tests
        self.succeeded: dict[str, datetime] = {}  # job name -> clock time its last run succeeded

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="beacon-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        table = CronTable(self._jobs, self._clock())
        while not self._stop.is_set():
            now = self._clock()
            for job in table.due(now):
                self.fired.append((job.name, now))
                try:
                    self._fire(job)
                    self.succeeded[job.name] = self._clock()
                except Exception:
                    # The next slot fires the job again; the jobs are idempotent recomputations.
                    logger.exception(
                        "scheduled job %s failed; it runs again at its next slot", job.name
                    )
            self._stop.wait(min(MAX_SLEEP_SECONDS, table.seconds_until_next(self._clock())))


class HttpFire:
    """Fire a job as Cloud Scheduler does: POST its JSON body to the function's URL + path."""

    def __init__(
        self,
        base_urls: Mapping[str, str],
        *,
        timeout: float = 600.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._base_urls = dict(base_urls)  # function name -> http://127.0.0.1:PORT
        self._timeout = timeout
        self._headers = {"User-Agent": "Google-Cloud-Scheduler", **(headers or {})}
        self._session = requests.Session()

    def __call__(self, job: ScheduledJob) -> None:
        url = self._base_urls[job.function] + job.path
        response = self._session.post(
            url,
            json=job.body,
            headers=self._headers,
            timeout=self._timeout,
        )
        if response.status_code >= 300:
            raise RuntimeError(
                f"{job.name}: POST {url} answered {response.status_code}: {response.text[:500]}"
            )
        logger.info("scheduled job %s: %s", job.name, summarize(response.text))


def summarize(answer: str) -> str:
    """One short line for the terminal from a job's JSON answer; the full answer is in the tables
    the job writes (alerts_log, the rollups), so the line names only what changed."""
    try:
        body = json.loads(answer)
    except json.JSONDecodeError:
        return answer[:200]
    if not isinstance(body, dict):
        return answer[:200]
    if isinstance(body.get("checks"), list):  # alerts
        firing = [c["name"] for c in body["checks"] if isinstance(c, dict) and c.get("firing")]
        mailed = [
            f"{c.get('name')} {c.get('status')}"
            for c in body["checks"]
            if isinstance(c, dict) and c.get("mail") == "sent"
        ]
        parts = [f"firing: {', '.join(firing) or 'none'}"]
        if mailed:
            parts.append(f"mailed: {', '.join(mailed)}")
        if body.get("errors"):
            parts.append(f"errors: {body['errors']}")
        return "; ".join(parts)
    tables = body.get("tables")
    if isinstance(tables, dict) and "start" in body:  # rollup
        return (
            f"{body['start']}..{body.get('end')}: {len(tables)} tables in {body.get('seconds')} s"
        )
    if isinstance(tables, dict) and "dry_run" in body:  # retention
        rows = sum(int(t.get("rows", 0)) for t in tables.values() if isinstance(t, dict))
        verb = "would delete" if body["dry_run"] else "deleted"
        return f"{verb} {rows} rows past retention in {len(tables)} tables"
    return answer[:200]
