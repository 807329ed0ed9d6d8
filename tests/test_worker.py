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
from functions.local.localqueue import LocalQueue
from functions.local.worker import QueueWorker


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

    with caplog.at_level(logging.WARNING, logger="functions.local.worker"):
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


class Staged:
    """A two-stage handler: prepare records what it saw; a write may fail once, or wait."""

    def __init__(self, fail_writes: set[int] | None = None, fail_prepares: set[int] | None = None):
        self.fail_writes = fail_writes or set()
        self.fail_prepares = fail_prepares or set()
        self.prepared: list[list[int]] = []
        self.written: list[int] = []
        self.second_prepared = threading.Event()
        self.first_write_saw_second_prepare: bool | None = None
        self.lock = threading.Lock()

    def __call__(self, batch: Sequence[Message]) -> None:
        self.prepare(batch)()

    def prepare(self, batch: Sequence[Message]):
        numbers = [json.loads(m.data)["n"] for m in batch]
        with self.lock:
            self.prepared.append(numbers)
            index = len(self.prepared)
        if index == 2:
            self.second_prepared.set()
        if set(numbers) & self.fail_prepares:
            raise ValueError("cannot prepare")

        def write() -> None:
            if index == 1:
                # Bounded: if the worker does not prepare while writing, this returns False.
                self.first_write_saw_second_prepare = self.second_prepared.wait(5)
            with self.lock:
                failing = set(numbers) & self.fail_writes
                self.fail_writes -= failing  # each listed number fails one write only
            if failing:
                raise ConnectionError("warehouse unreachable")
            with self.lock:
                self.written.extend(numbers)

        return write


def test_the_next_batch_is_prepared_while_the_previous_one_is_written(queue):
    queue.publish([msg(n) for n in range(6)])
    handler = Staged()
    worker = QueueWorker(queue, handler, batch_size=2, idle_sleep=0.005)
    worker.start()

    assert worker.stop(drain=True, timeout=20)

    assert handler.first_write_saw_second_prepare is True
    assert sorted(handler.written) == list(range(6))
    assert worker.stats() == {"delivered": 6, "failed": 0, "dead": 0}
    assert queue.depth() == {"ready": 0, "delayed": 0, "leased": 0, "dead": 0}


def test_a_failed_write_nacks_only_its_own_batch_and_the_drain_retries_it(queue):
    queue.publish([msg(n) for n in range(6)])
    handler = Staged(fail_writes={2})
    worker = QueueWorker(queue, handler, batch_size=2, idle_sleep=0.005)
    worker.start()

    assert worker.stop(drain=True, timeout=20)

    assert sorted(handler.written) == list(range(6))
    assert worker.stats()["failed"] == 2  # the batch holding 2 (and 3), once
    assert queue.depth() == {"ready": 0, "delayed": 0, "leased": 0, "dead": 0}


def test_a_failed_prepare_nacks_its_batch_with_the_error(queue):
    queue.publish([msg(n) for n in range(4)])
    worker = QueueWorker(queue, Staged(fail_prepares={0}), batch_size=2, idle_sleep=0.005)
    worker.start()
    deadline = time.monotonic() + 10
    while worker.stats()["failed"] < 2 and time.monotonic() < deadline:
        time.sleep(0.005)

    assert worker.stop(drain=False)

    assert worker.stats()["failed"] >= 2
    depth = queue.depth()
    assert depth["leased"] == 0
    assert depth["ready"] + depth["delayed"] == 2  # the failing batch waits for redelivery


def test_stopping_settles_the_batch_still_being_written(queue):
    queue.publish([msg(n) for n in range(40)])
    handler = Staged()
    worker = QueueWorker(queue, handler, batch_size=4)
    worker.start()
    while not handler.prepared:
        time.sleep(0.001)

    assert worker.stop(drain=False, timeout=5)

    left = queue.depth()
    assert left["leased"] == 0
    assert len(handler.written) + left["ready"] == 40
    assert worker.stats()["delivered"] == len(handler.written)
