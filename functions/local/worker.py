"""The consumer loop for the local queue: claim a batch, hand it over, ack or nack it whole.

The handler is the load function's core. It raises when the warehouse fails, and then the whole
batch is nacked and redelivered after a backoff: messages it had already written come back as
duplicates, which is harmless because the warehouse de-duplicates on event_id. Nothing is dropped:
a batch that keeps failing ends in the queue's dead_letters table.

In the background thread the worker runs two stages: while one batch is written (the handler's
`write` job, in a second thread), the next is claimed and prepared. A handler with a `prepare`
method (StagedHandler) splits its work that way, which pays when writing waits on a database
that releases the GIL; a plain handler runs whole as the write job, so only claims overlap. At
most one batch is in flight, and each is acked only after its write returned (nacked if it
raised), so a kill -9 still loses nothing: unacked messages are redelivered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, runtime_checkable

from functions.bus import BusUnavailable, Message
from functions.local.localqueue import LocalQueue

log = logging.getLogger(__name__)

Handler = Callable[[Sequence[Message]], None]
Job = Callable[[], None]
ERROR_LIMIT = 2000  # characters of a handler's error kept with the message


@runtime_checkable
class StagedHandler(Protocol):
    """A handler in two stages: `prepare(batch)` returns the job that writes the batch.

    Calling it must equal `prepare(batch)()`. Either stage raising fails the batch (nack).
    """

    def __call__(self, batch: Sequence[Message]) -> None: ...

    def prepare(self, batch: Sequence[Message]) -> Job: ...


def _whole(handler: Handler) -> Callable[[Sequence[Message]], Job]:
    """The stages of a plain handler: nothing to prepare; the job is the whole call."""

    def prepare(batch: Sequence[Message]) -> Job:
        return lambda: handler(batch)

    return prepare


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
        on_acked: Callable[[Sequence[Message]], None] | None = None,
    ) -> None:
        self.queue = queue
        # Told of each batch once it is written and acked (`beacon dev`'s metrics); its failure
        # is logged, never the batch's: the rows are already committed.
        self.on_acked = on_acked
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
        self._prepare = handler.prepare if isinstance(handler, StagedHandler) else _whole(handler)
        # The batch being written in the second stage, and its write; settled (acked or
        # nacked) by the loop thread once the write is done.
        self._in_flight: tuple[list[Message], Future[None]] | None = None

    def stats(self) -> dict[str, int]:
        with self._counter_lock:
            return {"delivered": self.delivered, "failed": self.failed, "dead": self.dead}

    def run_once(self) -> int:
        """Claim one batch and settle it; returns how many messages were claimed."""
        batch = self.queue.claim(self.batch_size, max_events=self.max_events)
        if not batch:
            return 0
        try:
            self.handler(batch)
        except Exception as exc:
            self._settle(batch, exc)
        else:
            self._settle(batch, None)
        return len(batch)

    def _settle(self, batch: Sequence[Message], error: BaseException | None) -> None:
        """Ack a handled batch, or nack it whole for redelivery when handling raised ERROR."""
        ids = [m.message_id for m in batch]
        if error is not None:
            log.warning(
                "handler failed on %d messages (ids %s..%s); nacked for redelivery",
                len(batch),
                ids[0],
                ids[-1],
                exc_info=error,
            )
            dead = self.queue.nack(ids, f"{type(error).__name__}: {error}"[:ERROR_LIMIT])
            with self._counter_lock:
                self.failed += len(batch)
                self.dead += dead
            if dead:
                log.error("%d messages moved to dead letters after their last attempt", dead)
            return
        # If this ack fails, the lease runs out and the batch is delivered again: a duplicate,
        # never a loss.
        self.queue.ack(ids)
        with self._counter_lock:
            self.delivered += len(batch)
        if self.on_acked is not None:
            try:
                self.on_acked(batch)
            except Exception:
                log.exception("on_acked failed for %d messages (they are loaded)", len(batch))

    def _step(self, writer: ThreadPoolExecutor) -> int:
        """Claim and prepare a batch while the previous one is written; returns the claimed count.

        The previous batch is settled once this one's write has started, so its ack overlaps
        that write too. With nothing claimed, nothing is left in flight: a nacked batch is then
        already pending again when the loop decides whether the drain is over.
        """
        batch = self.queue.claim(self.batch_size, max_events=self.max_events)
        job: Job | None = None
        if batch:
            try:
                job = self._prepare(batch)
            except Exception as exc:
                self._settle(batch, exc)
        previous, self._in_flight = self._in_flight, None
        if previous is not None:
            previous[1].exception()  # waits: at most one batch is being written
        if job is not None:
            self._in_flight = (batch, writer.submit(job))
        if previous is not None:
            self._settle_written(*previous)
        return len(batch)

    def _settle_written(self, batch: list[Message], write: Future[None]) -> None:
        error = write.exception()
        if error is not None and not isinstance(error, Exception):
            raise error  # KeyboardInterrupt and the like end the loop, as in run_once
        self._settle(batch, error)

    def _finish_in_flight(self) -> None:
        """Wait for the batch being written and settle it, on leaving the loop."""
        previous, self._in_flight = self._in_flight, None
        if previous is not None:
            self._settle_written(*previous)

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
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-write") as writer:
            try:
                self._run(writer)
            finally:
                try:
                    self._finish_in_flight()
                except Exception:
                    # The ack or nack failed: the batch stays leased and is redelivered.
                    log.exception("could not settle the last batch; it will be redelivered")

    def _run(self, writer: ThreadPoolExecutor) -> None:
        failing = False
        while True:
            try:
                claimed = self._step(writer)
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
