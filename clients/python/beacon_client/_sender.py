"""The one part of the client that does I/O: batches the queue and POSTs it to ingest, retrying.

Batches close at `batch_size` events, `batch_bytes` of JSON or `flush_interval` seconds. A batch
is sent gzipped to /v1/batch with the client's `sent_at`, so ingest corrects the app's clock. A
fault (connection error, 429, 5xx) is retried with jittered exponential backoff, waiting at least
what `Retry-After` says; the event ids are fixed on the client, so a batch that ingest kept but
whose answer was lost counts once. What can never succeed (400, 401, 403, 413) is dropped and
counted, as is a batch still failing after `max_retries`.
"""

from __future__ import annotations

import gzip
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

USER_AGENT = "beacon-client-python/0.1.0"
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass
class Counts:
    """What happened to the events handed to the client (all since it started)."""

    sent: int = 0  # accepted by ingest
    rejected: int = 0  # refused by ingest's schema (kept there in bad_events)
    dropped_full: int = 0  # left out because the queue was full (the oldest go first)
    failed: int = 0  # given up after the retries, or refused for good (bad key, too large)


def retry_pause(attempt: int, base: float, cap: float, retry_after: float | None) -> float:
    """Seconds before retry number ATTEMPT (1, 2, ...): full jitter over base * 2**(attempt-1),
    capped, and never less than the server's Retry-After."""
    pause = random.uniform(0, min(cap, base * 2 ** (attempt - 1)))
    return max(pause, retry_after or 0.0)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: rare from ingest, and the backoff still waits


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer (connection refused, timeout)
    retry_after: float | None
    body: dict[str, Any]


Transport = Callable[[str, bytes, dict[str, str], float], Answer]


def urllib_transport(url: str, data: bytes, headers: dict[str, str], timeout: float) -> Answer:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Answer(response.status, None, _json(response.read()))
    except urllib.error.HTTPError as error:
        retry = _retry_after(error.headers.get("Retry-After"))
        return Answer(error.code, retry, _json(error.read()))
    except (urllib.error.URLError, OSError):
        return Answer(0, None, {})


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def encode_events(events: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(events), separators=(",", ":"), default=str)


def encode_batch(events_json: str) -> bytes:
    """The gzipped body of one attempt. Its sent_at is now: ingest corrects the app's clock by
    received_at - sent_at, so a retry that kept the first attempt's would shift every event."""
    sent_at = json.dumps(datetime.now(UTC).isoformat())
    return gzip.compress(f'{{"events":{events_json},"sent_at":{sent_at}}}'.encode(), 6)


@dataclass
class Sender:
    url: str  # ingest's /v1/batch
    write_key: str
    counts: Counts
    max_retries: int = 8
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    timeout: float = 10.0
    transport: Transport = urllib_transport
    sleep: Callable[[float], Any] = time.sleep

    def send(self, events: Sequence[dict[str, Any]], deadline: float | None = None) -> bool:
        """Deliver one batch; True when ingest answered it (accepted or refused for good).

        DEADLINE (time.monotonic): stop retrying then, counting the batch as failed.
        """
        events_json = encode_events(events)
        headers = {
            "Authorization": f"Bearer {self.write_key}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": USER_AGENT,
        }
        for attempt in range(1, self.max_retries + 2):
            answer = self.transport(self.url, encode_batch(events_json), headers, self.timeout)
            if 200 <= answer.status < 300 or answer.status == 400:
                accepted = int(
                    answer.body.get("accepted", len(events) if answer.status < 300 else 0)
                )
                self.counts.sent += accepted
                self.counts.rejected += len(events) - accepted
                return True
            if answer.status and answer.status not in RETRIED_STATUSES:
                self.counts.failed += len(events)  # 401, 403, 413: retrying cannot help
                return True
            if attempt > self.max_retries:
                break
            pause = retry_pause(attempt, self.backoff_base, self.backoff_cap, answer.retry_after)
            if deadline is not None and time.monotonic() + pause > deadline:
                break
            self.sleep(pause)
        self.counts.failed += len(events)
        return False
