"""LiveSender against a loopback HTTP server: it tracks what is due through the Python client,
and stops promptly."""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from functions.local.devserver.sender import LiveSender

NOW = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)


class Recorder:
    """An ingest stand-in answering every batch with `status` after `delay` seconds, keeping the
    events it accepted."""

    def __init__(self, status: int, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.requests = 0
        self.event_ids: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)
                body = json.loads(data)
                recorder.requests += 1
                time.sleep(recorder.delay)
                accepted = body["events"] if recorder.status == 202 else []
                recorder.event_ids += [event["event_id"] for event in accepted]
                answer = json.dumps({"accepted": len(accepted), "rejected": []}).encode()
                self.send_response(recorder.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ingest() -> Iterator[Recorder]:
    recorder = Recorder(202)
    yield recorder
    recorder.close()


@pytest.fixture
def failing_ingest() -> Iterator[Recorder]:
    # Slow as well as failing: stop() comes while the first attempt is in flight, so the client
    # cannot have given up (and counted the batch failed) before it.
    recorder = Recorder(503, delay=1.0)
    yield recorder
    recorder.close()


def stream(*offsets_seconds: float) -> Iterator[dict[str, Any]]:
    for offset in offsets_seconds:
        at = NOW + timedelta(seconds=offset)
        yield {
            "event_id": str(uuid.uuid4()),
            "event_type": "page_view",
            "timestamp": at.isoformat().replace("+00:00", "Z"),
        }


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_sends_the_events_already_due_and_holds_back_later_ones(ingest: Recorder) -> None:
    events = list(stream(-3, -2, -1, 0, 3600, 3601))
    live = LiveSender(iter(events), ingest.url, "k", tick_seconds=0.01, clock=lambda: NOW)
    live.start()
    wait_until(lambda: len(ingest.event_ids) >= 4)
    live.stop()

    assert ingest.event_ids == [event["event_id"] for event in events[:4]]
    assert (live.report.sent, live.report.accepted, live.dropped, live.unsent) == (4, 4, 0, 0)
    assert live.tracked == 4


def test_a_finite_stream_ends_the_sender(ingest: Recorder) -> None:
    live = LiveSender(stream(-2, -1), ingest.url, "k", tick_seconds=0.01, clock=lambda: NOW)
    live.start()
    wait_until(lambda: not live.running)

    assert not live.running
    assert len(ingest.event_ids) == 2


def test_stop_waits_at_most_its_timeout_for_a_failing_ingest_and_counts_the_unsent(
    failing_ingest: Recorder,
) -> None:
    live = LiveSender(
        stream(-1, 0), failing_ingest.url, "k", tick_seconds=0.01, clock=lambda: NOW, max_retries=2
    )
    live.start()
    wait_until(lambda: failing_ingest.requests >= 1)
    started = time.monotonic()
    live.stop(timeout=0.3)

    assert time.monotonic() - started < 2
    assert not live.running
    assert (live.report.sent, live.dropped, live.unsent) == (0, 0, 2)
    assert failing_ingest.event_ids == []


def test_events_keep_their_own_timestamps_and_fields(ingest: Recorder) -> None:
    events = [
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "payment",
            "timestamp": "2025-03-14T09:59:58Z",
            "user_id": "u-1",
            "platform": "ios",
            "revenue": 9.5,
            "currency": "EUR",
            "properties": {"provider_id": "p-1"},
        }
    ]
    bodies: list[dict[str, Any]] = []
    live = LiveSender(iter(events), ingest.url, "k", tick_seconds=0.01, clock=lambda: NOW)
    real_send = live.client.sender.transport

    def recording(url: str, data: bytes, headers: dict[str, str], timeout: float) -> Any:
        bodies.append(json.loads(gzip.decompress(data)))
        return real_send(url, data, headers, timeout)

    live.client.sender.transport = recording
    live.start()
    wait_until(lambda: len(ingest.event_ids) >= 1)
    live.stop()

    (sent,) = bodies[0]["events"]
    assert datetime.fromisoformat(sent.pop("timestamp")) == NOW - timedelta(seconds=2)
    expected = dict(events[0])
    del expected["timestamp"]
    assert sent == expected
