"""A durable queue in one SQLite file: the bus when Beacon runs on one machine.

Publishers (ingest, in gunicorn worker processes) and the consumer (the load worker inside
`beacon dev`) share the file across processes. Every state change is one short transaction, so
SQLite's file lock is all the coordination needed.

A message is claimable when `visible_at <= now`. Claiming leases it: `attempts` goes up by one and
`visible_at` moves to the end of the lease, so a consumer that dies mid-batch (kill -9) loses
nothing: its messages become claimable again when the lease runs out. A nack makes the message
visible again after an exponential backoff; after `max_attempts` failed deliveries it moves to
`dead_letters` with its last error, from where `redrive_dead_letters` can move it back.

The queue is bounded: a publish that would take the file's live pages past `max_bytes` raises
BusFull (ingest answers 503 with Retry-After), so a stopped load worker cannot fill the disk.
The file runs with incremental auto-vacuum, and acks hand freed pages back to the file system,
so the file shrinks again once the queue drains.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.bus import BusFull, BusUnavailable, Message
from functions.retry import backoff_delay

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids are never reused after an ack
    data BLOB NOT NULL,
    attributes TEXT NOT NULL,              -- JSON object of str -> str
    event_count INTEGER NOT NULL,          -- from the envelope attribute, for claim(max_events=)
    published_at REAL NOT NULL,
    visible_at REAL NOT NULL,              -- claimable once this (unix time) has passed
    leased INTEGER NOT NULL DEFAULT 0,     -- 1 while a consumer holds it (until visible_at)
    attempts INTEGER NOT NULL DEFAULT 0,   -- deliveries so far
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (visible_at, id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,                -- the message's id, kept for tracing
    data BLOB NOT NULL,
    attributes TEXT NOT NULL,
    event_count INTEGER NOT NULL,
    published_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    dead_at REAL NOT NULL
);
"""

LEASE_EXPIRED = "lease expired: the consumer did not ack or nack in time"
DEFAULT_MAX_BYTES = 1 << 30  # BEACON_QUEUE_MAX_BYTES: a laptop's spare disk, minutes of backlog
# Give space back once a quarter of the file, and at least 64 pages (256 KiB), is free: rarely
# enough to cost nothing on the hot path, and a drained queue always qualifies.
_VACUUM_MIN_FREE_PAGES = 64
_VACUUM_MIN_FREE_SHARE = 0.25
_WAL_SIZE_LIMIT = 64 << 20  # the WAL is truncated to this after a checkpoint
_CHUNK = 500  # ids per IN (...) list, well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    data: bytes
    attributes: dict[str, str]
    attempts: int
    last_error: str
    published_at: float
    dead_at: float


def _event_count(attributes: dict[str, str]) -> int:
    try:
        return max(1, int(attributes.get("event_count", "1")))
    except ValueError:
        return 1


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(exc)


def _live_bytes(conn: sqlite3.Connection) -> int:
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    return (pages - free) * int(conn.execute("PRAGMA page_size").fetchone()[0])


def _use_incremental_vacuum(conn: sqlite3.Connection) -> None:
    """Switch the file to incremental auto-vacuum (a new file now; an older one by VACUUM once)."""
    if int(conn.execute("PRAGMA auto_vacuum").fetchone()[0]) == 2:
        return
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
    if tables:
        # An existing file takes the mode only when rebuilt; if another process holds it busy,
        # a later open tries again.
        with contextlib.suppress(sqlite3.OperationalError):
            conn.execute("VACUUM")


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _marks(ids: Sequence[int]) -> str:
    return ",".join("?" * len(ids))


_Row = tuple[bytes, str, int, float, float]
_INSERT = (
    "INSERT INTO messages (data, attributes, event_count, published_at, visible_at)"
    " VALUES (?, ?, ?, ?, ?)"
)


class _Publish:
    """One publish call waiting to be committed, possibly by another thread (group commit)."""

    __slots__ = ("error", "ids", "rows")

    def __init__(self, rows: list[_Row]) -> None:
        self.rows = rows
        self.ids: list[str] | None = None  # set once committed
        self.error: BaseException | None = None  # set once known to be lost

    @property
    def settled(self) -> bool:
        return self.ids is not None or self.error is not None


# Every queue of this process, so a forked child can drop the locks and waiting publishes it
# inherited: another thread may have held them at fork() and it does not exist in the child.
_QUEUES: weakref.WeakSet[LocalQueue] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for queue in list(_QUEUES):
        queue._forget_parent()


os.register_at_fork(after_in_child=_reset_after_fork)


class LocalQueue:
    """The Publisher for `BEACON_BACKEND=local`, and the consumer side the load worker uses."""

    def __init__(
        self,
        path: Path,
        *,
        max_attempts: int = 5,
        lease_seconds: float = 30.0,
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
        busy_timeout_ms: int = 5000,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.busy_timeout_ms = busy_timeout_ms
        # One connection per process, used under a lock: SQLite serialises writers anyway, and
        # a lock is cheaper than a connection per gunicorn thread. Opened lazily, so an
        # unwritable path surfaces as BusUnavailable from publish (ingest answers 503) and a
        # later call retries the open.
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        # Group commit: publishers append here, then queue for _lock; whoever gets _lock first
        # commits everything appended so far in one transaction, so under load one commit (and
        # one wait for _lock) serves many requests instead of each paying for its own.
        self._pending_lock = threading.Lock()
        self._pending: list[_Publish] = []
        _QUEUES.add(self)

    def _forget_parent(self) -> None:
        """In a forked child: fresh locks and no pending publishes (their threads are gone).

        The parent's connection is dropped unclosed by _connect's pid check, as SQLite asks.
        """
        self._lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending = []

    # -- connection -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        # A connection inherited through fork() must not be used in the child; open a new one.
        self._conn = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # timeout= is SQLite's busy timeout, needed while the schema is set up (several processes
        # may open a new file at once).
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self.busy_timeout_ms / 1000,
        )
        try:
            _use_incremental_vacuum(conn)  # first: a new file takes the mode before WAL's header
            conn.execute("PRAGMA journal_mode = WAL")
            # In WAL mode, synchronous=NORMAL writes each commit to the WAL file before
            # returning and fsyncs only at checkpoints. A killed process (kill -9) loses
            # nothing, since its writes are already in the OS; only an OS crash or power loss
            # could lose the last commits. FULL would fsync on every publish, on the hot path.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
            conn.executescript(SCHEMA)
            # From here on, waits for the write lock are ours (see _begin): SQLite's own busy
            # handler sleeps 1, 2, 5, 10, 15... ms between tries, which put tens of
            # milliseconds on a contended publish; short sleeps keep the p99 near a millisecond.
            conn.execute("PRAGMA busy_timeout = 0")
        except BaseException:
            conn.close()
            raise
        self._conn, self._pid = conn, os.getpid()
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction (takes the write lock up front, so claims never race)."""
        with self._lock, self._transaction_locked() as conn:
            yield conn

    @contextmanager
    def _transaction_locked(self) -> Iterator[sqlite3.Connection]:
        """_transaction for a caller already holding self._lock."""
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect()
            self._begin(conn)
            yield conn
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            self._abandon(conn)
            raise self._unavailable(exc) from exc
        except BaseException:
            self._abandon(conn)
            raise

    def _unavailable(self, exc: BaseException) -> BusUnavailable:
        return BusUnavailable(f"local queue {self.path}: {exc}")

    def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, retrying while another process holds the write lock."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        pause = 0.0001
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.002)

    def _abandon(self, conn: sqlite3.Connection | None) -> None:
        """Roll back a failed transaction; drop the connection if even that fails."""
        if conn is None or not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            conn.close()
            self._conn = None

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._connect()
            except (sqlite3.Error, OSError) as exc:
                raise BusUnavailable(f"local queue {self.path}: {exc}") from exc

    # -- publisher --------------------------------------------------------------------------

    def publish(self, messages: Sequence[Message]) -> list[str]:
        """Store all messages in one transaction, or none of them and raise BusUnavailable.

        Returns only once the messages are committed. Concurrent calls of this process may
        share a transaction (group commit), each call in its own savepoint, so one call's
        failure loses only that call's messages; a failed commit loses, and fails, them all.
        """
        if not messages:
            return []
        now = time.time()
        rows: list[_Row] = []
        for m in messages:
            attributes = dict(m.attributes)
            rows.append(
                (
                    m.data,
                    json.dumps(attributes, separators=(",", ":")),
                    _event_count(attributes),
                    now,
                    now,
                )
            )
        mine = _Publish(rows)
        with self._pending_lock:
            self._pending.append(mine)
        with self._lock:
            # A committer that held the lock while we waited may have settled us already.
            if not mine.settled:
                with self._pending_lock:
                    group, self._pending = self._pending, []
                self._commit_group(group)
        if mine.error is not None:
            raise mine.error
        assert mine.ids is not None  # settled: _commit_group leaves none unsettled
        return mine.ids

    def _commit_group(self, group: list[_Publish]) -> None:
        """Commit the group's publishes in one transaction; settle each one (under self._lock)."""
        try:
            with self._transaction_locked() as conn:
                self._check_room(conn, group)
                if len(group) == 1:
                    # Alone, the transaction is the call's all-or-nothing: no savepoint needed.
                    ids = [str(conn.execute(_INSERT, row).lastrowid) for row in group[0].rows]
                    group[0].ids = ids
                else:
                    self._insert_each(conn, group)
        except BaseException as exc:
            # The transaction is gone: nothing of this group was stored, whatever a savepoint
            # said. Each caller gets its own exception object (they are raised in different
            # threads, which would tangle one object's traceback); this thread re-raises what
            # it caught, as publish did before grouping.
            unavailable = isinstance(exc, BusUnavailable)
            message = str(exc) if unavailable else str(self._unavailable(exc))
            kind = type(exc) if unavailable else BusUnavailable
            for publish in group:
                lost = kind(message)
                lost.__cause__ = exc.__cause__ if unavailable else exc
                publish.ids, publish.error = None, lost
            raise

    def _check_room(self, conn: sqlite3.Connection, group: list[_Publish]) -> None:
        """Raise BusFull when the group would take the live pages past max_bytes."""
        incoming = sum(len(row[0]) + len(row[1]) for publish in group for row in publish.rows)
        if incoming + _live_bytes(conn) > self.max_bytes:
            raise BusFull(
                f"local queue {self.path} is full: it holds its bound of {self.max_bytes} "
                "bytes (BEACON_QUEUE_MAX_BYTES) until the load worker drains it"
            )

    def _insert_each(self, conn: sqlite3.Connection, group: list[_Publish]) -> None:
        for publish in group:
            conn.execute("SAVEPOINT publish")
            try:
                ids = [str(conn.execute(_INSERT, row).lastrowid) for row in publish.rows]
            except sqlite3.Error as exc:
                if not conn.in_transaction:
                    raise  # SQLite rolled the whole transaction back (I/O error, disk full)
                conn.execute("ROLLBACK TO publish")
                conn.execute("RELEASE publish")
                publish.error = self._unavailable(exc)
                continue
            conn.execute("RELEASE publish")
            publish.ids = ids

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # -- consumer ---------------------------------------------------------------------------

    def claim(self, max_messages: int, *, max_events: int | None = None) -> list[Message]:
        """Lease up to `max_messages` visible messages, oldest first.

        With `max_events`, stop before the batch's summed `event_count` attribute would exceed
        it (a single larger message is still returned alone, so nothing gets stuck).
        """
        if max_messages < 1:
            return []
        now = time.time()
        claimed: list[tuple[int, bytes, str, int]] = []
        with self._transaction() as conn:
            events = 0
            after: tuple[float, int] = (float("-inf"), -1)
            while len(claimed) < max_messages:
                rows = conn.execute(
                    "SELECT id, data, attributes, event_count, attempts, leased, visible_at"
                    " FROM messages WHERE visible_at <= ? AND (visible_at, id) > (?, ?)"
                    " ORDER BY visible_at, id LIMIT ?",
                    (now, after[0], after[1], max_messages - len(claimed)),
                ).fetchall()
                if not rows:
                    break
                full = False
                for msg_id, data, attrs, count, attempts, leased, visible_at in rows:
                    after = (visible_at, msg_id)
                    if leased and attempts >= self.max_attempts:
                        # Its last allowed delivery timed out: that is a failed delivery too.
                        self._bury(conn, [msg_id], LEASE_EXPIRED, now)
                        continue
                    if max_events is not None and claimed and events + count > max_events:
                        full = True
                        break
                    events += count
                    claimed.append((msg_id, data, attrs, attempts + 1))
                if full:
                    break
            for chunk in _chunks([c[0] for c in claimed]):
                conn.execute(
                    "UPDATE messages SET attempts = attempts + 1, leased = 1, visible_at = ?"
                    f" WHERE id IN ({_marks(chunk)})",
                    (now + self.lease_seconds, *chunk),
                )
        return [
            Message(
                data=bytes(data),
                attributes=json.loads(attrs),
                message_id=str(msg_id),
                delivery_attempt=attempt,
            )
            for msg_id, data, attrs, attempt in claimed
        ]

    def ack(self, ids: Sequence[str]) -> int:
        """Delete delivered messages; returns how many were still there."""
        keys = [int(i) for i in ids]
        deleted = 0
        with self._transaction() as conn:
            for chunk in _chunks(keys):
                cursor = conn.execute(f"DELETE FROM messages WHERE id IN ({_marks(chunk)})", chunk)
                deleted += cursor.rowcount
            free_pages = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
            pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        if free_pages >= max(_VACUUM_MIN_FREE_PAGES, _VACUUM_MIN_FREE_SHARE * pages):
            self._give_back_space()
        return deleted

    def _give_back_space(self) -> None:
        """Truncate the file's free pages. Best effort: when busy, a later ack does it."""
        # executescript steps the pragma to the end; execute() frees a single page.
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._connect().executescript("PRAGMA incremental_vacuum;")

    def file_bytes(self) -> int:
        """Bytes the queue's file holds on disk (the database, not its WAL)."""
        with self._reading() as conn:
            row = conn.execute("PRAGMA page_count").fetchone()
            size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        return int(row[0]) * size

    def nack(self, ids: Sequence[str], error: str) -> int:
        """Schedule a redelivery after backoff, or dead-letter messages out of attempts.

        Returns how many went to dead_letters. Only leased messages are affected, so a stale
        nack cannot disturb a message already redelivered elsewhere.
        """
        keys = [int(i) for i in ids]
        now = time.time()
        dead: list[int] = []
        with self._transaction() as conn:
            for chunk in _chunks(keys):
                rows = conn.execute(
                    "SELECT id, attempts FROM messages"
                    f" WHERE leased = 1 AND id IN ({_marks(chunk)})",
                    chunk,
                ).fetchall()
                for msg_id, attempts in rows:
                    if attempts >= self.max_attempts:
                        dead.append(msg_id)
                        continue
                    delay = backoff_delay(attempts, self.backoff_base, self.backoff_max)
                    conn.execute(
                        "UPDATE messages SET leased = 0, visible_at = ?, last_error = ?"
                        " WHERE id = ?",
                        (now + delay, error, msg_id),
                    )
            self._bury(conn, dead, error, now)
        return len(dead)

    def release_leases(self) -> int:
        """Make every leased message claimable now: for a sole consumer starting up."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE messages SET leased = 0, visible_at = ? WHERE leased = 1", (time.time(),)
            )
            return cursor.rowcount

    @staticmethod
    def _bury(conn: sqlite3.Connection, ids: Sequence[int], error: str, now: float) -> None:
        for chunk in _chunks(ids):
            conn.execute(
                "INSERT INTO dead_letters (id, data, attributes, event_count, published_at,"
                " attempts, last_error, dead_at)"
                " SELECT id, data, attributes, event_count, published_at, attempts, ?, ?"
                f" FROM messages WHERE id IN ({_marks(chunk)})",
                (error, now, *chunk),
            )
            conn.execute(f"DELETE FROM messages WHERE id IN ({_marks(chunk)})", chunk)

    # -- introspection ----------------------------------------------------------------------

    def depth(self) -> dict[str, int]:
        """Counts: ready (claimable now), delayed (in backoff), leased, dead."""
        now = time.time()
        with self._reading() as conn:
            row: tuple[Any, ...] = conn.execute(
                "SELECT"
                " COUNT(*) FILTER (WHERE visible_at <= ?),"
                " COUNT(*) FILTER (WHERE visible_at > ? AND leased = 0),"
                " COUNT(*) FILTER (WHERE visible_at > ? AND leased = 1),"
                " (SELECT COUNT(*) FROM dead_letters)"
                " FROM messages",
                (now, now, now),
            ).fetchone()
        return {"ready": row[0], "delayed": row[1], "leased": row[2], "dead": row[3]}

    def oldest_published_at(self) -> float | None:
        """Unix time the oldest message still in the queue (not dead) was published, if any."""
        with self._reading() as conn:
            row: tuple[Any, ...] = conn.execute("SELECT MIN(published_at) FROM messages").fetchone()
        return None if row[0] is None else float(row[0])

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT id, data, attributes, attempts, last_error, published_at, dead_at"
                " FROM dead_letters ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            DeadLetter(str(r[0]), bytes(r[1]), json.loads(r[2]), r[3], r[4], r[5], r[6])
            for r in rows
        ]

    def redrive_dead_letters(self, ids: Sequence[str] | None = None) -> int:
        """Move dead letters (all, or those ids) back to the queue with fresh attempts."""
        if ids is not None and not ids:
            return 0
        where = "" if ids is None else f" WHERE id IN ({_marks([0] * len(ids))})"
        params = [] if ids is None else [int(i) for i in ids]
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO messages (id, data, attributes, event_count, published_at,"
                " visible_at, last_error)"
                " SELECT id, data, attributes, event_count, published_at, ?, last_error"
                " FROM dead_letters" + where,
                (time.time(), *params),
            )
            cursor = conn.execute("DELETE FROM dead_letters" + where, params)
            return cursor.rowcount
