"""Record each dashboard query's bytes in `query_costs`, off the response's critical path.

Requests only append to an in-memory buffer. A flush writes the buffer in one insert on a
background thread, started by the request that finds the buffer old or large enough, and once
more when the process exits. A failed write is logged and its rows dropped: cost records are
telemetry, and a warehouse outage must not grow the buffer without bound.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from functions.warehouse import Warehouse, insert_all

logger = logging.getLogger(__name__)

TABLE = "query_costs"


class CostRecorder:
    def __init__(
        self,
        warehouse: Callable[[], Warehouse],
        *,
        flush_seconds: float = 10.0,
        flush_rows: int = 200,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._warehouse = warehouse
        self._flush_seconds = flush_seconds
        self._flush_rows = flush_rows
        self._clock = clock
        self._rows: list[dict[str, Any]] = []
        self._oldest = 0.0
        self._lock = threading.Lock()
        self._flushing = threading.Lock()

    def record(self, endpoint: str, bytes_billed: int) -> None:
        now = self._clock()
        row = {"ts": datetime.now(UTC), "endpoint": endpoint, "bytes_billed": int(bytes_billed)}
        with self._lock:
            if not self._rows:
                self._oldest = now
            self._rows.append(row)
            due = len(self._rows) >= self._flush_rows or now - self._oldest >= self._flush_seconds
        if due and not self._flushing.locked():
            threading.Thread(target=self.flush, name="query-costs-flush", daemon=True).start()

    def pending(self) -> int:
        with self._lock:
            return len(self._rows)

    def flush(self) -> int:
        """Write every buffered row now; returns how many were written."""
        with self._flushing:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                insert_all(self._warehouse(), TABLE, rows)
            except Exception:
                logger.exception("could not record %d query costs; dropped", len(rows))
                return 0
            return len(rows)

    def flush_at_exit(self) -> None:
        atexit.register(self.flush)
