"""The durable local queue: real SQLite files, real child processes, real kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from functions.bus import BusUnavailable, Message
from functions.local.localqueue import LEASE_EXPIRED, LocalQueue
from functions.retry import backoff_delay


def msg(n: int, events: int = 1) -> Message:
    return Message(
        data=json.dumps({"n": n}).encode(),
        attributes={"kind": "events", "event_count": str(events), "source": "web"},
    )


def numbers(messages: list[Message]) -> list[int]:
    return [json.loads(m.data)["n"] for m in messages]


def drain(queue: LocalQueue, batch: int = 1000) -> list[Message]:
    """Claim and ack everything claimable now."""
    out: list[Message] = []
    while batch_msgs := queue.claim(batch):
        queue.ack([m.message_id for m in batch_msgs])
        out.extend(batch_msgs)
    return out


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[LocalQueue]:
    q = LocalQueue(tmp_path / "q" / "queue.sqlite3", max_attempts=3, backoff_base=0.05)
    yield q
    q.close()


def run_child(path: Path, body: str) -> subprocess.Popen[str]:
    """Start a Python process that opens LocalQueue(path) as `queue` and runs body."""
    script = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from functions.bus import Message\n"
        "from functions.local.localqueue import LocalQueue\n"
        f"queue = LocalQueue(Path({str(path)!r}), lease_seconds=3600)\n" + textwrap.dedent(body)
    )
    return subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_published_messages_are_claimed_in_order_with_attributes_and_acked_away(queue):
    ids = queue.publish([msg(1), msg(2, events=4)])

    claimed = queue.claim(10)

    assert [m.message_id for m in claimed] == ids
    assert numbers(claimed) == [1, 2]
    assert claimed[1].attributes == {"kind": "events", "event_count": "4", "source": "web"}
    assert all(m.delivery_attempt == 1 for m in claimed)
    assert queue.depth() == {"ready": 0, "delayed": 0, "leased": 2, "dead": 0}
    assert queue.ack(ids) == 2
    assert queue.claim(10) == []
    assert queue.depth() == {"ready": 0, "delayed": 0, "leased": 0, "dead": 0}


def test_publishing_nothing_returns_no_ids(queue):
    assert queue.publish([]) == []


def test_message_ids_are_never_reused_after_ack(queue):
    first = queue.publish([msg(1)])
    queue.ack(first)

    second = queue.publish([msg(2)])

    assert int(second[0]) > int(first[0])


def test_publish_is_all_or_nothing_when_sqlite_fails_mid_batch(queue, tmp_path):
    queue.publish([msg(0)])  # creates the schema
    # A trigger stands in for a failure on the third insert (disk full, I/O error).
    with sqlite3.connect(queue.path) as other:
        other.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.data = CAST('boom' AS BLOB)"
            " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
        )
    bad = Message(data=b"boom")

    with pytest.raises(BusUnavailable, match="disk on fire"):
        queue.publish([msg(1), msg(2), bad, msg(3)])

    assert numbers(drain(queue)) == [0]
    assert queue.publish([msg(4)])  # the connection is still usable afterwards


def test_unwritable_path_raises_bus_unavailable_and_recovers_when_fixed(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the queue's directory should be")
    queue = LocalQueue(blocker / "queue.sqlite3")

    with pytest.raises(BusUnavailable):
        queue.publish([msg(1)])

    blocker.unlink()
    assert len(queue.publish([msg(1)])) == 1
    queue.close()


def test_claim_respects_max_messages_and_max_events(queue):
    queue.publish([msg(1, events=3), msg(2, events=3), msg(3, events=3), msg(4)])

    assert numbers(queue.claim(2)) == [1, 2]
    assert numbers(queue.claim(10, max_events=3)) == [3]  # 3 + 1 events would exceed 3
    assert numbers(queue.claim(10, max_events=3)) == [4]


def test_a_single_message_larger_than_max_events_is_still_delivered(queue):
    queue.publish([msg(1, events=50)])

    assert numbers(queue.claim(10, max_events=10)) == [1]


def test_nacked_message_is_redelivered_after_backoff_with_attempt_two(queue):
    queue.publish([msg(1)])
    first = queue.claim(10)

    queue.nack([first[0].message_id], "warehouse down")

    assert queue.claim(10) == []  # still backing off
    assert queue.depth()["delayed"] == 1
    time.sleep(backoff_delay(1, queue.backoff_base, queue.backoff_max) + 0.02)
    again = queue.claim(10)
    assert numbers(again) == [1]
    assert again[0].delivery_attempt == 2
    assert again[0].message_id == first[0].message_id


def test_backoff_doubles_per_attempt_up_to_the_cap():
    delays = [backoff_delay(attempt, 0.5, 3.0) for attempt in range(1, 6)]

    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]


def claim_within(queue: LocalQueue, seconds: float) -> list[Message]:
    deadline = time.monotonic() + seconds
    while not (claimed := queue.claim(10)) and time.monotonic() < deadline:
        time.sleep(0.01)
    return claimed


def test_message_is_dead_lettered_with_its_last_error_after_max_attempts(queue):
    queue.publish([msg(1)])
    for attempt in range(1, queue.max_attempts + 1):
        claimed = claim_within(queue, 2.0)
        assert [m.delivery_attempt for m in claimed] == [attempt]
        queue.nack([claimed[0].message_id], f"failure {attempt}")

    dead = queue.dead_letters()
    assert [json.loads(d.data)["n"] for d in dead] == [1]
    assert dead[0].last_error == f"failure {queue.max_attempts}"
    assert dead[0].attempts == queue.max_attempts
    assert queue.depth() == {"ready": 0, "delayed": 0, "leased": 0, "dead": 1}


def test_redrive_moves_dead_letters_back_with_fresh_attempts(tmp_path):
    queue = LocalQueue(tmp_path / "q.sqlite3", max_attempts=1)
    ids = queue.publish([msg(1), msg(2)])
    queue.nack([m.message_id for m in queue.claim(10)], "bad luck")
    assert len(queue.dead_letters()) == 2

    assert queue.redrive_dead_letters([ids[1]]) == 1
    assert queue.redrive_dead_letters() == 1

    again = queue.claim(10)
    assert sorted(m.message_id for m in again) == ids  # the same ids, for tracing
    assert [m.delivery_attempt for m in again] == [1, 1]
    assert queue.depth()["dead"] == 0
    queue.close()


def test_expired_lease_makes_messages_claimable_again(tmp_path):
    queue = LocalQueue(tmp_path / "q.sqlite3", lease_seconds=0.1)
    queue.publish([msg(1)])
    queue.claim(10)  # and the consumer never answers

    assert queue.claim(10) == []
    time.sleep(0.15)
    again = queue.claim(10)
    assert numbers(again) == [1]
    assert again[0].delivery_attempt == 2
    queue.close()


def test_expired_lease_on_the_last_attempt_is_a_dead_letter(tmp_path):
    queue = LocalQueue(tmp_path / "q.sqlite3", lease_seconds=0.05, max_attempts=1)
    queue.publish([msg(1), msg(2)])
    queue.claim(1)
    time.sleep(0.08)

    assert numbers(queue.claim(10)) == [2]
    assert [d.last_error for d in queue.dead_letters()] == [LEASE_EXPIRED]
    queue.close()


def test_stale_nack_does_not_disturb_an_acked_message(queue):
    ids = queue.publish([msg(1)])
    queue.claim(1)
    queue.ack(ids)

    assert queue.nack(ids, "late") == 0
    assert queue.depth() == {"ready": 0, "delayed": 0, "leased": 0, "dead": 0}


def test_threads_publishing_at_once_get_distinct_ids_and_lose_nothing(queue):
    ids: list[str] = []
    lock = threading.Lock()

    def publisher(offset: int) -> None:
        for n in range(offset, offset + 50):
            got = queue.publish([msg(n)])
            with lock:
                ids.extend(got)

    threads = [threading.Thread(target=publisher, args=(k * 1000,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(ids)) == 300
    assert sorted(numbers(drain(queue))) == sorted(
        k * 1000 + n for k in range(6) for n in range(50)
    )


def test_two_publishing_processes_and_a_consumer_deliver_each_message_exactly_once(tmp_path):
    path = tmp_path / "shared" / "queue.sqlite3"
    per_process = 400
    children = [
        run_child(
            path,
            f"""
            for n in range({base}, {base} + {per_process}, 4):
                batch = [Message(json.dumps({{"n": k}}).encode()) for k in range(n, n + 4)]
                queue.publish(batch[:1])  # single-event publishes and small batches interleave
                queue.publish(batch[1:])
            """,
        )
        for base in (0, 100_000)
    ]
    consumer = LocalQueue(path)
    seen: list[Message] = []
    deadline = time.monotonic() + 30
    while len(seen) < 2 * per_process and time.monotonic() < deadline:
        batch = consumer.claim(50)
        consumer.ack([m.message_id for m in batch])
        seen.extend(batch)
        if not batch:
            time.sleep(0.005)
    for child in children:
        assert child.wait(timeout=30) == 0, child.stderr.read() if child.stderr else ""

    expected = [base + n for base in (0, 100_000) for n in range(per_process)]
    assert sorted(numbers(seen)) == expected  # every message, none twice
    assert all(m.delivery_attempt == 1 for m in seen)
    assert consumer.claim(10) == []
    consumer.close()


def test_consumer_killed_mid_batch_loses_nothing(tmp_path):
    path = tmp_path / "queue.sqlite3"
    publisher = LocalQueue(path)
    publisher.publish([msg(n) for n in range(100)])
    child = run_child(
        path,
        """
        batch = queue.claim(40)
        print(len(batch), flush=True)
        time.sleep(60)  # "processing" when SIGKILL arrives
        """,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "40"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)

    fresh = LocalQueue(path)
    assert fresh.release_leases() == 40
    delivered = drain(fresh)

    assert sorted(numbers(delivered)) == list(range(100))
    assert sorted(m.delivery_attempt for m in delivered) == [1] * 60 + [2] * 40
    publisher.close()
    fresh.close()


def test_publisher_killed_mid_stream_keeps_every_publish_it_returned_from(tmp_path):
    path = tmp_path / "queue.sqlite3"
    child = run_child(
        path,
        """
        n = 0
        while True:
            ids = queue.publish([Message(json.dumps({"n": k}).encode()) for k in range(n, n + 3)])
            print(n, flush=True)
            n += 3
        """,
    )
    assert child.stdout is not None
    acknowledged = [int(child.stdout.readline()) for _ in range(200)]
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)

    fresh = LocalQueue(path)
    delivered = sorted(numbers(drain(fresh)))

    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    expected_prefix = [k for n in acknowledged for k in range(n, n + 3)]
    assert delivered[: len(expected_prefix)] == expected_prefix
    assert len(delivered) % 3 == 0  # whole publishes only: none was half-written
    fresh.close()


def test_publish_waits_for_another_writer_and_gives_up_after_the_busy_timeout(tmp_path):
    path = tmp_path / "queue.sqlite3"
    queue = LocalQueue(path, busy_timeout_ms=300)
    queue.publish([msg(0)])
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's long write transaction
    started = time.monotonic()

    with pytest.raises(BusUnavailable, match="locked"):
        queue.publish([msg(1)])
    waited = time.monotonic() - started

    release = threading.Timer(0.05, lambda: other.execute("ROLLBACK"))
    release.start()
    assert len(queue.publish([msg(2)])) == 1  # waits for the lock, then goes through
    release.join()
    assert 0.25 <= waited < 2.0
    assert numbers(drain(queue)) == [0, 2]
    other.close()
    queue.close()


# -- group commit: concurrent publishes of one process share a transaction ----------------------

BOOM = b"boom"


def add_failing_insert(path: Path, action: str = "ABORT") -> None:
    """A trigger that fails the insert of a BOOM message, as a disk error would.

    ABORT undoes that statement only; ROLLBACK undoes the whole transaction it is in.
    """
    with sqlite3.connect(path) as other:
        other.execute(
            f"CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.data = CAST('boom' AS BLOB)"
            f" BEGIN SELECT RAISE({action}, 'disk on fire'); END"
        )


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.001)


def publish_as_one_group(queue: LocalQueue, calls: list[list[Message]]) -> list[object]:
    """Run each call in its own thread so that all of them join one group commit.

    Another connection holds SQLite's write lock while a first publisher (the committer) waits
    for it; the calls queue up behind that publisher, and the next committer takes them all.
    Returns each call's ids, or the exception it raised.
    """
    results: list[object] = [None] * len(calls)

    def run(index: int, messages: list[Message]) -> None:
        try:
            results[index] = queue.publish(messages)
        except BusUnavailable as exc:
            results[index] = exc

    other = sqlite3.connect(queue.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    first = threading.Thread(target=queue.publish, args=([msg(-1)],))
    first.start()
    wait_for(lambda: queue._lock.locked() and not queue._pending, "the first committer")
    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(queue._pending) == len(calls), "every call to queue up")
    other.execute("ROLLBACK")
    other.close()
    for thread in [first, *threads]:
        thread.join()
    return results


def test_calls_sharing_a_commit_each_get_their_own_ids_and_all_are_stored(queue):
    queue.publish([msg(0)])  # creates the schema
    calls = [[msg(n * 10 + k) for k in range(n % 3 + 1)] for n in range(1, 9)]

    results = publish_as_one_group(queue, calls)

    assert all(isinstance(r, list) for r in results)
    assert [len(r) for r in results] == [len(c) for c in calls]
    claimed = drain(queue)
    by_id = {m.message_id: json.loads(m.data)["n"] for m in claimed}
    for call, ids in zip(calls, results, strict=True):
        assert [by_id[i] for i in ids] == numbers(call)
    assert sorted(by_id.values()) == sorted([-1, 0] + [n for c in calls for n in numbers(c)])


def test_a_failing_call_in_a_shared_commit_loses_only_its_own_messages(queue):
    queue.publish([msg(0)])
    add_failing_insert(queue.path)
    calls = [[msg(1)], [msg(2), Message(data=BOOM), msg(3)], [msg(4), msg(5)]]

    results = publish_as_one_group(queue, calls)

    assert isinstance(results[1], BusUnavailable)
    assert "disk on fire" in str(results[1])
    assert isinstance(results[0], list) and isinstance(results[2], list)
    assert sorted(numbers(drain(queue))) == [-1, 0, 1, 4, 5]
    assert queue.publish([msg(6)])  # the connection is still usable afterwards


def test_a_failed_shared_transaction_fails_every_call_in_it_and_stores_none(queue):
    queue.publish([msg(0)])
    add_failing_insert(queue.path, action="ROLLBACK")
    calls = [[msg(1)], [msg(2), Message(data=BOOM)], [msg(3), msg(4)]]

    results = publish_as_one_group(queue, calls)

    assert all(isinstance(r, BusUnavailable) for r in results)
    assert all("disk on fire" in str(r) for r in results)
    assert sorted(numbers(drain(queue))) == [-1, 0]
    assert queue.publish([msg(5)])


def test_many_threads_publishing_with_failures_store_each_call_whole_or_not_at_all(queue):
    queue.publish([msg(0)])
    add_failing_insert(queue.path)
    outcomes: dict[int, bool] = {}  # call number -> published
    lock = threading.Lock()

    def publisher(base: int) -> None:
        for call in range(base, base + 60):
            batch = [msg(call * 10 + k) for k in range(call % 3 + 1)]
            if call % 7 == 0:
                batch.insert(1, Message(data=BOOM))  # this call must fail, and only it
            try:
                ids = queue.publish(batch)
            except BusUnavailable:
                ok = False
            else:
                assert len(ids) == len(batch)
                ok = True
            with lock:
                outcomes[call] = ok

    threads = [threading.Thread(target=publisher, args=(k * 1000 + 1,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = numbers(drain(queue))
    assert len(stored) == len(set(stored))  # nothing stored twice
    expected = [0] + [
        call * 10 + k for call, ok in outcomes.items() if ok for k in range(call % 3 + 1)
    ]
    assert sorted(stored) == sorted(expected)  # each call whole, or not at all
    assert [call for call, ok in outcomes.items() if not ok] == [
        call for call in outcomes if call % 7 == 0
    ]


def test_a_forked_child_publishes_even_if_the_parent_was_mid_publish_at_fork(queue):
    queue.publish([msg(0)])  # the parent's connection exists before fork
    queue._lock.acquire()  # as if another thread were committing when gunicorn forked
    pid = os.fork()
    if pid == 0:  # the child: that thread does not exist here, nor does its lock's owner
        code = 1
        try:
            code = 0 if len(queue.publish([msg(1)])) == 1 else 2
        finally:
            os._exit(code)  # never return into pytest from the child
    queue._lock.release()
    deadline = time.monotonic() + 20
    done, status = os.waitpid(pid, os.WNOHANG)
    while not done and time.monotonic() < deadline:
        time.sleep(0.01)
        done, status = os.waitpid(pid, os.WNOHANG)
    if not done:  # a child stuck on the inherited lock would wait forever
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

    assert done, "the child hung on a lock it inherited"
    assert os.waitstatus_to_exitcode(status) == 0
    assert numbers(drain(queue)) == [0, 1]
