"""The consumer loop for the local queue: claim a batch, hand it over, ack or nack it whole.

The handler is the load function's core. It raises when the warehouse fails, and then the whole
batch is nacked and redelivered after a backoff: messages it had already written come back as
duplicates, which is harmless because the warehouse de-duplicates on event_id. Nothing is dropped:
a batch that keeps failing ends in the queue's dead_letters table.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from functions.bus import BusUnavailable, Message
from functions.bus.localqueue import LocalQueue

log = logging.getLogger(__name__)

Handler = Callable[[Sequence[Message]], None]
ERROR_LIMIT = 2000  # characters of a handler's error kept with the message


class QueueWorker:
    """Runs `handler` over a LocalQueue in one background thread (or step by step: run_once)."""

    def __init__(
        self,
        queue: LocalQueue,
        handler: Handler,
        *,
        batch_size: int = 200,
        max_events: int | None = None,
        idle_sleep: float = 0.05,
        name: str = "beacon-queue-worker",
    ) -> None:
        self.queue = queue
        self.handler = handler
        self.batch_size = batch_size
        self.max_events = max_events
        self.idle_sleep = idle_sleep
        self.name = name
        self.delivered = 0  # messages the handler accepted (acked)
        self.failed = 0  # deliveries the handler raised on (nacked)
        self.dead = 0  # messages moved to dead_letters by this worker's nacks
        self._counter_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()  # cuts an idle sleep short on stop()
        self._drain_deadline: float | None = None

    def stats(self) -> dict[str, int]:
        with self._counter_lock:
            return {"delivered": self.delivered, "failed": self.failed, "dead": self.dead}

    def run_once(self) -> int:
        """Claim one batch and settle it; returns how many messages were claimed."""
        batch = self.queue.claim(self.batch_size, max_events=self.max_events)
        if not batch:
            return 0
        ids = [m.message_id for m in batch]
        try:
            self.handler(batch)
        except Exception as exc:
            log.warning(
                "handler failed on %d messages (ids %s..%s); nacked for redelivery",
                len(batch),
                ids[0],
                ids[-1],
                exc_info=True,
            )
            dead = self.queue.nack(ids, f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT])
            with self._counter_lock:
                self.failed += len(batch)
                self.dead += dead
            if dead:
                log.error("%d messages moved to dead letters after their last attempt", dead)
            return len(batch)
        # If this ack fails, the lease runs out and the batch is delivered again: a duplicate,
        # never a loss.
        self.queue.ack(ids)
        with self._counter_lock:
            self.delivered += len(batch)
        return len(batch)

    # -- background thread ------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("worker already running")
        self._stopping.clear()
        self._wake.clear()
        self._drain_deadline = None
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, drain: bool = True, timeout: float = 10.0) -> bool:
        """Stop the thread; with drain, first process until nothing is ready or delayed.

        Returns True when the thread has ended (and, with drain, the queue held nothing
        claimable or backing off when it did); False when `timeout` ran out first.
        """
        thread = self._thread
        if thread is None:
            return True
        self._drain_deadline = time.monotonic() + timeout if drain else None
        self._stopping.set()
        self._wake.set()
        # The deadline stops new claims; the batch in hand still finishes, so allow for it.
        thread.join(timeout + max(1.0, timeout))
        if thread.is_alive():
            log.error("queue worker still busy %.1f s after stop(); leaving it", timeout)
            return False
        self._thread = None
        return not drain or self._pending() == 0

    def _pending(self) -> int:
        depth = self.queue.depth()
        return depth["ready"] + depth["delayed"]

    def _should_exit(self) -> bool:
        if not self._stopping.is_set():
            return False
        deadline = self._drain_deadline
        if deadline is None or time.monotonic() >= deadline:
            return True
        return self._pending() == 0

    def _loop(self) -> None:
        failing = False
        while True:
            try:
                claimed = self.run_once()
                if failing:
                    log.info("local queue worker recovered")
                failing = False
            except Exception:
                # The queue file itself failed (disk full, permissions) or a nack/ack did: the
                # messages stay leased and come back when the lease ends. Keep going, since
                # publishers may still be filling the queue; log once per outage, not per poll.
                if not failing:
                    log.exception("local queue worker step failed; retrying")
                failing = True
                claimed = 0
            if claimed:
                if self._stopping.is_set() and self._past_deadline():
                    return
                continue
            try:
                if self._should_exit():
                    return
            except BusUnavailable:
                if self._past_deadline():
                    return
            if self._stopping.is_set():
                # Draining: the wake event stays set, so poll for delayed messages instead.
                time.sleep(min(self.idle_sleep, 0.01))
            else:
                self._wake.wait(max(self.idle_sleep, 1.0) if failing else self.idle_sleep)

    def _past_deadline(self) -> bool:
        deadline = self._drain_deadline
        return deadline is None or time.monotonic() >= deadline
