"""The queue worker over a real LocalQueue file."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from functions.bus import Message
from functions.bus.localqueue import LocalQueue
from functions.bus.worker import QueueWorker


def msg(n: int) -> Message:
    return Message(data=json.dumps({"n": n}).encode(), attributes={"event_count": "1"})


class Recorder:
    """A handler that stores what it accepted and raises for its first `failures` calls."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.failures = failures
        self.delay = delay
        self.calls = 0
        self.accepted: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, batch: Sequence[Message]) -> None:
        with self.lock:
            self.calls += 1
            failing = self.calls <= self.failures
        time.sleep(self.delay)
        if failing:
            raise ConnectionError("warehouse unreachable")
        with self.lock:
            self.accepted.extend(json.loads(m.data)["n"] for m in batch)


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[LocalQueue]:
    q = LocalQueue(tmp_path / "queue.sqlite3", max_attempts=10, backoff_base=0.01)
    yield q
    q.close()


def test_run_once_hands_a_batch_to_the_handler_and_acks_it(queue):
    queue.publish([msg(n) for n in range(5)])
    handler = Recorder()
    worker = QueueWorker(queue, handler, batch_size=3)

    assert worker.run_once() == 3
    assert worker.run_once() == 2
    assert worker.run_once() == 0

    assert handler.accepted == list(range(5))
    assert worker.stats() == {"delivered": 5, "failed": 0, "dead": 0}
    assert queue.depth() == {"ready": 0, "delayed": 0, "leased": 0, "dead": 0}


def test_a_failing_batch_is_nacked_whole_and_the_error_logged(queue, caplog):
    queue.publish([msg(1), msg(2)])
    worker = QueueWorker(queue, Recorder(failures=1))

    with caplog.at_level(logging.WARNING, logger="functions.bus.worker"):
        assert worker.run_once() == 2

    assert worker.stats() == {"delivered": 0, "failed": 2, "dead": 0}
    assert queue.depth()["delayed"] == 2
    assert "warehouse unreachable" in caplog.text


def test_handler_failing_for_a_while_then_recovering_loses_nothing(queue):
    handler = Recorder(failures=4)
    worker = QueueWorker(queue, handler, batch_size=25, idle_sleep=0.005)
    worker.start()

    for n in range(0, 200, 10):
        queue.publish([msg(k) for k in range(n, n + 10)])
    assert worker.stop(drain=True, timeout=20)

    assert sorted(handler.accepted) == list(range(200))
    stats = worker.stats()
    assert stats["failed"] > 0
    assert stats["delivered"] == len(handler.accepted)
    assert queue.depth() == {"ready": 0, "delayed": 0, "leased": 0, "dead": 0}


def test_stop_with_drain_processes_everything_already_queued(queue):
    queue.publish([msg(n) for n in range(300)])
    handler = Recorder(delay=0.002)
    worker = QueueWorker(queue, handler, batch_size=20, idle_sleep=0.5)
    worker.start()

    assert worker.stop(drain=True, timeout=20)

    assert sorted(handler.accepted) == list(range(300))
    assert not worker.running


def test_stop_without_drain_leaves_the_rest_queued_not_lost(queue):
    queue.publish([msg(n) for n in range(300)])
    handler = Recorder(delay=0.02)
    worker = QueueWorker(queue, handler, batch_size=10)
    worker.start()
    time.sleep(0.05)

    assert worker.stop(drain=False, timeout=5)

    left = queue.depth()
    assert 0 < len(handler.accepted) < 300
    assert len(handler.accepted) + left["ready"] == 300
    assert left["leased"] == 0


def test_drain_gives_up_at_the_timeout_when_the_handler_keeps_failing(queue):
    queue.publish([msg(1)])
    worker = QueueWorker(queue, Recorder(failures=10**6), idle_sleep=0.005)
    worker.start()
    started = time.monotonic()

    drained = worker.stop(drain=True, timeout=0.3)

    assert not drained
    assert time.monotonic() - started < 2.0
    depth = queue.depth()
    assert depth["ready"] + depth["delayed"] + depth["dead"] == 1  # still held, not dropped


def test_batches_that_keep_failing_end_in_dead_letters(tmp_path):
    queue = LocalQueue(tmp_path / "queue.sqlite3", max_attempts=2, backoff_base=0.01)
    queue.publish([msg(1), msg(2)])
    worker = QueueWorker(queue, Recorder(failures=10**6), idle_sleep=0.005)
    worker.start()

    deadline = time.monotonic() + 10
    while queue.depth()["dead"] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop(drain=False)

    assert worker.stats() == {"delivered": 0, "failed": 4, "dead": 2}
    assert [d.last_error for d in queue.dead_letters()] == [
        "ConnectionError: warehouse unreachable"
    ] * 2
    queue.close()
