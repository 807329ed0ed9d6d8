"""`beacon dev`'s ingest server bounds slow and oversized requests, as Google's front end does in
the cloud: a slow client cannot stall the others, and a huge request line is refused at once."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from functions.envelope import Envelope
from functions.local.devserver.serving import (
    start_ingest_process,
    stop_process,
    wait_until_listening,
)
from functions.local.localqueue import LocalQueue

READ_TIMEOUT = 2.0
AUTH = "Authorization: Bearer k1\r\n"


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    data_dir = tmp_path_factory.mktemp("dev-ingest")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = {
        **os.environ,
        "BEACON_BACKEND": "local",
        "BEACON_DATA_DIR": str(data_dir),
        "BEACON_WRITE_KEYS": "web:k1",
        "BEACON_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
    }
    with (data_dir / "ingest.log").open("wb") as log:
        process = start_ingest_process(port, env, stdout=log)
        try:
            wait_until_listening(port, process)
            yield port, data_dir
        finally:
            stop_process(process)


def trickle(port: int, data: bytes, pause: float, results: list[tuple[float, bytes]]) -> None:
    """Send DATA a byte at a time, PAUSE apart, then read the answer; record (seconds, answer)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        try:
            for byte in data:
                conn.sendall(bytes([byte]))
                time.sleep(pause)
        except OSError:
            pass  # the server gave up on us and closed: what we are testing
        try:
            answer = conn.recv(4096)
        except OSError:
            answer = b""
    results.append((time.monotonic() - started, answer))


def test_eight_slow_clients_do_not_stall_a_ninth(ingest: tuple[int, Path]) -> None:
    port, _ = ingest
    request = f"POST /v1/events HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 20\r\n\r\n".encode()
    results: list[tuple[float, bytes]] = []
    slow = [threading.Thread(target=trickle, args=(port, request, 0.5, results)) for _ in range(8)]
    for thread in slow:
        thread.start()
    time.sleep(0.5)  # every slow client is connected and being read
    started = time.monotonic()
    response = requests.post(
        f"http://127.0.0.1:{port}/v1/events",
        json={"event_type": "a"},
        headers={"Authorization": "Bearer k1"},
        timeout=10,
    )
    waited = time.monotonic() - started
    for thread in slow:
        thread.join(timeout=30)
    assert response.status_code == 202
    assert waited < 1.0
    assert len(results) == 8
    for seconds, answer in results:
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert seconds < READ_TIMEOUT + 6  # at most the wait for a thread plus the deadline


def test_a_body_that_trickles_is_answered_408_and_the_refusal_is_recorded(
    ingest: tuple[int, Path],
) -> None:
    port, data_dir = ingest
    body = json.dumps({"events": [{"event_type": "a", "user_id": "slow"}]}).encode()
    head = (
        f"POST /v1/batch HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head + body[:10])
        time.sleep(READ_TIMEOUT + 1)
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408")
    assert b'"error":"request_timeout"' in answer
    queue = LocalQueue(data_dir / "queue.sqlite3")
    envelopes = [Envelope.from_message(m.data) for m in queue.claim(100)]
    queue.close()
    rows = [r for e in envelopes if e.kind == "bad_events" for r in e.records]
    # The part that came stays inside gunicorn's reader; the client is told to send it again.
    assert [r["reason"] for r in rows] == ["request_timeout"]


def test_a_request_line_of_8_mb_is_refused_at_once(ingest: tuple[int, Path]) -> None:
    port, _ = ingest
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        line = b"GET /" + b"a" * (8 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        with contextlib.suppress(OSError):  # refused and closed before we finished sending
            conn.sendall(line)
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 414") or answer.startswith(b"HTTP/1.1 400")
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    "headers",
    [
        "".join(f"X-Pad-{i}: {i}\r\n" for i in range(150)),  # too many
        "X-Big: " + "b" * 20_000 + "\r\n",  # one too large
    ],
)
def test_too_many_or_too_large_headers_are_a_431(ingest: tuple[int, Path], headers: str) -> None:
    port, _ = ingest
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 431")
