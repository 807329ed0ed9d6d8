"""Send events to a running ingest function in batches, retrying faults, with a progress bar.

A batch answered 5xx, 429 or not at all is sent again (same event ids, so a retry after an
answer that got lost cannot double-count); a 4xx other than 429 is the client's fault and is
reported, not retried. Setting `stop` ends sending between batches and cuts a retry's pause short,
so Ctrl-C never waits out a backoff.

`LiveSender` tracks an endless, timestamped stream (demo.live_events) through the Python client as
each event comes due.
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import requests
from beacon_client import Client

from functions.retry import backoff_delay

BATCH_PATH = "/v1/batch"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BATCH = 500  # ingest's limit on events per request


class SendFailed(RuntimeError):
    """A batch was still failing after every retry."""


@dataclass
class SendReport:
    sent: int = 0  # events in batches the server answered
    accepted: int = 0
    rejected: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)  # first rejection messages, for the user

    def add(self, other: SendReport) -> None:
        self.sent += other.sent
        self.accepted += other.accepted
        self.rejected += other.rejected
        self.retries += other.retries
        self.errors.extend(other.errors[: max(0, 5 - len(self.errors))])


def batch_body(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The body of one batch request; `sent_at` lets ingest correct the client clock."""
    sent_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"sent_at": sent_at, "events": list(events)}


def encode(body: Mapping[str, Any], *, compress: bool) -> tuple[bytes, dict[str, str]]:
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if compress:
        data = gzip.compress(data, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    return data, headers


class Progress:
    """A one-line progress bar on a terminal; a final summary line elsewhere (logs, CI)."""

    def __init__(self, total: int, label: str, stream: TextIO = sys.stderr) -> None:
        self.total = max(1, total)
        self.label = label
        self.stream = stream
        self.started = time.monotonic()
        self._live = stream.isatty()
        self._last = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if not self._live or (now - self._last < 0.1 and done < self.total):
            return
        self._last = now
        width = 30
        filled = int(width * done / self.total)
        rate = done / max(1e-6, now - self.started)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
            f"{done}/{self.total} ({rate:,.0f}/s)"
        )
        self.stream.flush()

    def finish(self, done: int) -> None:
        elapsed = time.monotonic() - self.started
        end = "\n" if self._live else ""
        self.stream.write(f"{end}{self.label}: {done} events in {elapsed:.1f} s\n")
        self.stream.flush()


def send_events(
    events: Sequence[Mapping[str, Any]],
    base_url: str,
    write_key: str,
    *,
    batch_size: int = 100,
    compress: bool = False,
    attempts: int = 8,
    stop: threading.Event | None = None,
    on_progress: Callable[[int], None] | None = None,
    session: requests.Session | None = None,
) -> SendReport:
    """POST events in batches to BASE_URL/v1/batch; stop between batches once `stop` is set."""
    http = session or requests.Session()
    http.headers["Authorization"] = f"Bearer {write_key}"
    report = SendReport()
    for start in range(0, len(events), batch_size):
        if stop is not None and stop.is_set():
            break
        chunk = events[start : start + batch_size]
        answer = _post_with_retries(
            http, base_url + BATCH_PATH, chunk, compress, attempts, report, stop
        )
        if answer is None:  # stopped while waiting to retry: this batch counts as unsent
            break
        report.sent += len(chunk)
        report.accepted += int(answer.get("accepted", 0))
        rejected = answer.get("rejected") or []
        report.rejected += len(rejected) if isinstance(rejected, list) else int(rejected)
        if isinstance(rejected, list) and len(report.errors) < 5:
            report.errors.extend(json.dumps(r)[:300] for r in rejected[: 5 - len(report.errors)])
        if on_progress is not None:
            on_progress(report.sent)
    return report


def _post_with_retries(
    http: requests.Session,
    url: str,
    events: Sequence[Mapping[str, Any]],
    compress: bool,
    attempts: int,
    report: SendReport,
    stop: threading.Event | None,
) -> dict[str, Any] | None:
    """The batch's answer; None when `stop` was set during a pause between attempts."""
    pause = stop or threading.Event()  # never set: a plain sleep
    problem = ""
    for attempt in range(attempts):
        if attempt:
            report.retries += 1
            if pause.wait(backoff_delay(attempt, 0.4, cap=5.0)):
                return None
        data, headers = encode(batch_body(events), compress=compress)
        try:
            response = http.post(url, data=data, headers=headers, timeout=30)
        except requests.RequestException as exc:
            problem = f"{type(exc).__name__}: {exc}"
            continue
        if response.status_code in RETRY_STATUSES:
            problem = f"HTTP {response.status_code}: {response.text[:300]}"
            continue
        if response.status_code >= 400:
            raise SendFailed(f"POST {url} answered {response.status_code}: {response.text[:500]}")
        answer = response.json()
        return answer if isinstance(answer, dict) else {}
    raise SendFailed(f"POST {url} still failing after {attempts} attempts: {problem}")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _due_at(event: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["timestamp"]))


class LiveSender:
    """A daemon thread that tracks each event of a timestamped stream, through the Python client
    (`beacon_client.Client`) as an app would, once its time has come.

    Every tick the events now due are handed to the client, which batches, gzips and retries
    them in its own thread, so the events reach ingest with timestamps of about now. stop() ends
    the stream and flushes what the client holds within its timeout; the client's counts say
    what became of every event.
    """

    def __init__(
        self,
        events: Iterator[dict[str, Any]],
        base_url: str,
        write_key: str,
        *,
        tick_seconds: float = 1.0,
        clock: Callable[[], datetime] = _utc_now,
        max_retries: int = 8,
    ) -> None:
        self._events = events
        self._tick = tick_seconds
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="beacon-live-demo", daemon=True)
        self.client = Client(
            write_key,
            host=base_url,
            batch_size=MAX_BATCH,
            flush_interval=tick_seconds,
            max_retries=max_retries,
            platform=None,  # each demo event names its own
        )
        self.tracked = 0

    @property
    def report(self) -> SendReport:
        counts = self.client.counts
        answered = counts.sent + counts.rejected
        return SendReport(sent=answered, accepted=counts.sent, rejected=counts.rejected)

    @property
    def dropped(self) -> int:
        """Events refused for good, still failing after the retries, or left out of a full queue."""
        return self.client.counts.failed + self.client.counts.dropped_full

    @property
    def unsent(self) -> int:
        """Events the client still held when stop() gave up waiting."""
        return self.tracked - self.report.sent - self.dropped

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """End the stream, then send what the client holds, waiting at most TIMEOUT seconds."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
        self.client.close(timeout)

    def _run(self) -> None:
        upcoming = next(self._events, None)
        while upcoming is not None and not self._stop.is_set():
            now = self._clock()
            while upcoming is not None and _due_at(upcoming) <= now:
                fields = dict(upcoming)
                at = datetime.fromisoformat(str(fields.pop("timestamp")))
                self.client.track(**fields, timestamp=at)
                self.tracked += 1
                upcoming = next(self._events, None)
            self._stop.wait(self._tick)
