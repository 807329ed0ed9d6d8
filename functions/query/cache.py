"""A small per-instance response cache: dashboards poll the same few URLs every few seconds.

Entries expire after `ttl` seconds; the oldest entry goes first when the cache is full. The
remaining lifetime of a hit becomes the response's `max-age`, so browsers and the instance
agree on when data is fresh again.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    body: bytes
    mimetype: str
    headers: tuple[tuple[str, str], ...]
    expires_at: float


class ResponseCache:
    def __init__(
        self, ttl: float, max_entries: int = 256, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[Entry, int] | None:
        """The live entry for key and its remaining whole seconds, or None."""
        if self.ttl <= 0:
            return None
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires_at <= now:
                del self._entries[key]
                return None
            return entry, max(0, int(entry.expires_at - now))

    def put(
        self, key: str, body: bytes, mimetype: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        if self.ttl <= 0:
            return
        entry = Entry(body, mimetype, headers, self._clock() + self.ttl)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
