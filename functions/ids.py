"""Random (version 4) UUIDs for the ids the server assigns: event ids and request ids.

uuid.uuid4() makes a getrandom syscall per id, which releases the GIL; under load each release
made a gunicorn thread wait to get it back. So the bytes are drawn 256 ids at a time, for the
whole process; a forked child drops what its parent drew (os.register_at_fork), so that workers
never share ids.
"""

from __future__ import annotations

import os
import threading

_BYTES_PER_DRAW = 16 * 256


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._offset = 0

    def hex(self) -> str:
        """32 hex digits: 16 random bytes with the version and variant bits of RFC 4122."""
        with self._lock:
            if self._offset >= len(self._pool):
                self._pool, self._offset = os.urandom(_BYTES_PER_DRAW), 0
            raw = bytearray(self._pool[self._offset : self._offset + 16])
            self._offset += 16
        raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
        return raw.hex()

    def forget(self) -> None:
        """Drop the bytes drawn before a fork (in the child, which then draws its own)."""
        self._lock = threading.Lock()  # a thread of the parent may have held it at the fork
        self._pool, self._offset = b"", 0


_POOL = _Pool()
os.register_at_fork(after_in_child=_POOL.forget)


def uuid4_hex() -> str:
    """A new UUID4 as 32 hex digits (uuid.UUID.hex's form): request ids."""
    return _POOL.hex()


def uuid4_text() -> str:
    """A new UUID4 in its canonical 8-4-4-4-12 form (str(uuid.UUID)'s): event ids."""
    h = _POOL.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
