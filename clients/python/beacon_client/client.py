"""`Client`: record events without ever blocking or raising into the app.

`track` builds the event (with its event id, so every retry de-duplicates) and appends it to a
bounded in-memory queue; one background thread drains it in batches (`_sender.Sender`). When the
queue is full the oldest event is dropped and counted (`counts.dropped_full`): the app never
waits for Beacon. `flush()` waits for the queue to drain; the process flushes at exit within
`shutdown_timeout`. After a fork (gunicorn's pre-fork workers) the child starts empty, with its
own lock and thread, so nothing the parent had queued is sent twice.

Serverless (a Cloud Function or Lambda freezes the process after its response): create the client
with `sync=True`, which sends in the calling thread on `flush()`, and call `flush()` before
returning.
"""

from __future__ import annotations

import atexit
import collections
import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from beacon_client._sender import Counts, Sender

logger = logging.getLogger("beacon_client")
OnFull = Literal["drop_oldest", "drop_newest"]
_CLIENTS: weakref.WeakSet[Client] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_CLIENTS):
        client._forget_parent()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _json_size(event: dict[str, Any]) -> int:
    try:
        return len(json.dumps(event, separators=(",", ":"), default=str))
    except (TypeError, ValueError):
        return 1024  # the sender's encoder will say what is wrong with it


class Client:
    def __init__(
        self,
        write_key: str,
        host: str = "http://127.0.0.1:8080",
        *,
        max_queue: int = 10_000,
        batch_size: int = 100,
        batch_bytes: int = 500_000,
        flush_interval: float = 1.0,
        max_retries: int = 8,
        timeout: float = 10.0,
        shutdown_timeout: float = 5.0,
        on_full: OnFull = "drop_oldest",
        sync: bool = False,
        platform: str | None = "server",
        sender: Sender | None = None,
    ) -> None:
        if not write_key:
            raise ValueError("write_key is required")
        self.counts = Counts()
        self.sender = sender or Sender(
            host.rstrip("/") + "/v1/batch",
            write_key,
            self.counts,
            max_retries=max_retries,
            timeout=timeout,
        )
        self.sender.counts = self.counts
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.flush_interval = flush_interval
        self.shutdown_timeout = shutdown_timeout
        self.on_full = on_full
        self.sync = sync
        self.platform = platform
        self._forget_parent()
        _CLIENTS.add(self)
        atexit.register(self._at_exit)

    def _forget_parent(self) -> None:
        """A fresh queue, lock and thread: in a forked child, the parent's are not ours."""
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self._pid = os.getpid()

    # -- recording ------------------------------------------------------------------------

    def track(
        self,
        event_type: str,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        session_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        revenue: float | None = None,
        currency: str | None = None,
        duration_ms: float | None = None,
        success: bool | None = None,
        error_type: str | None = None,
        category: str | None = None,
        app_version: str | None = None,
        platform: str | None = None,
        timestamp: datetime | None = None,
        event_id: str | None = None,
    ) -> str | None:
        """Queue one event; return its event id, or None when it could not be recorded."""
        try:
            event: dict[str, Any] = {
                "event_type": event_type,
                "event_id": event_id or str(uuid.uuid4()),
                "timestamp": (timestamp or datetime.now(UTC)).isoformat(),
            }
            fields = {
                "user_id": user_id,
                "anonymous_id": anonymous_id,
                "session_id": session_id,
                "properties": dict(properties) if properties else None,
                "context": dict(context) if context else None,
                "revenue": revenue,
                "currency": currency,
                "duration_ms": duration_ms,
                "success": success,
                "error_type": error_type,
                "category": category,
                "app_version": app_version,
                "platform": platform or self.platform,
            }
            event.update({k: v for k, v in fields.items() if v is not None})
        except Exception:  # tracking never raises into the app
            logger.exception("beacon: could not record a %r event", event_type)
            return None
        self._enqueue(event)
        return str(event["event_id"])

    # The conventional events of Beacon's docs/events.md, one line each.

    def search(self, query: str, result_count: int | None = None, **fields: Any) -> str | None:
        properties = {"query": query, **fields.pop("properties", {})}
        if result_count is not None:
            properties["result_count"] = result_count
        return self.track("search", properties=properties, **fields)

    def payment(self, revenue: float, currency: str, **fields: Any) -> str | None:
        return self.track("payment", revenue=revenue, currency=currency, **fields)

    def refund(self, amount: float, currency: str, **fields: Any) -> str | None:
        return self.track("refund", revenue=-abs(amount), currency=currency, **fields)

    def signup(self, user_id: str, **fields: Any) -> str | None:
        return self.track("signup", user_id=user_id, **fields)

    def login(self, user_id: str, **fields: Any) -> str | None:
        return self.track("login", user_id=user_id, **fields)

    def api_call(self, route: str, duration_ms: float, success: bool, **fields: Any) -> str | None:
        properties = {"route": route, **fields.pop("properties", {})}
        return self.track(
            "api_call", duration_ms=duration_ms, success=success, properties=properties, **fields
        )

    def error(self, error_type: str, message: str | None = None, **fields: Any) -> str | None:
        properties = dict(fields.pop("properties", {}))
        if message is not None:
            properties["message"] = message[:2000]
        return self.track("error", error_type=error_type, properties=properties, **fields)

    # -- queue and delivery ---------------------------------------------------------------

    def _enqueue(self, event: dict[str, Any]) -> None:
        if self._pid != os.getpid():
            self._forget_parent()  # forked without register_at_fork (rare; defensive)
        with self._lock:
            if len(self._queue) >= self.max_queue:
                self.counts.dropped_full += 1
                if self.on_full == "drop_newest":
                    return
                self._queue.popleft()
            self._queue.append(event)
            if not self.sync:
                self._ensure_thread()
                if len(self._queue) >= self.batch_size:
                    self._wake.notify()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="beacon-client", daemon=True)
            self._thread.start()

    def _take_batch(self) -> list[dict[str, Any]]:
        """The next batch: up to batch_size events and batch_bytes of JSON.

        Events are measured here, in the sending thread, not in track(): that keeps the
        serialising off the app's request path. What does not fit goes back to the queue's head.
        """
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
            self._in_flight += len(batch)
        size = 0
        for position, event in enumerate(batch):
            size += _json_size(event)
            if position and size > self.batch_bytes:
                rest = batch[position:]
                with self._lock:
                    self._queue.extendleft(reversed(rest))
                    self._in_flight -= len(rest)
                return batch[:position]
        return batch

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._wake.wait(self.flush_interval)
                elif len(self._queue) < self.batch_size:
                    # Let a partial batch fill up for a moment, unless a flush asked for it.
                    self._wake.wait(self.flush_interval)
                if self._closed and not self._queue:
                    return
            batch = self._take_batch()
            if batch:
                self._deliver(batch, None)

    def _deliver(self, batch: list[dict[str, Any]], deadline: float | None) -> None:
        try:
            self.sender.send(batch, deadline)
        except Exception:  # a bug of ours must not kill the thread or reach the app
            logger.exception("beacon: sending a batch failed")
            self.counts.failed += len(batch)
        finally:
            with self._lock:
                self._in_flight -= len(batch)
                self._wake.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued; True when nothing is left unsent within TIMEOUT seconds.

        With sync=True the batches are sent here, in the calling thread.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.sync:
            while True:
                batch = self._take_batch()
                if not batch:
                    return True
                self._deliver(batch, deadline)
                if deadline is not None and time.monotonic() > deadline:
                    with self._lock:
                        return not self._queue
        with self._lock:
            if self._queue:
                self._ensure_thread()
            while self._queue or self._in_flight:
                self._wake.notify_all()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._wake.wait(min(0.05, remaining) if remaining is not None else 0.05)
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Flush within TIMEOUT (default shutdown_timeout), then stop the thread."""
        done = self.flush(self.shutdown_timeout if timeout is None else timeout)
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        return done

    def _at_exit(self) -> None:
        pending = self._pid == os.getpid() and (self._queue or self._in_flight)
        if pending and not self.close():
            logger.warning("beacon: %d events unsent at exit", len(self._queue))
