"""The bus port: Pub/Sub in the cloud, a durable SQLite queue on one machine.

Ingest publishes one message per accepted request (see `functions.envelope` for the body);
the load function consumes them. Delivery is at-least-once: consumers de-duplicate on event_id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class BusUnavailable(RuntimeError):
    """The bus refused a publish; nothing of that publish call was accepted."""


class BusFull(BusUnavailable):
    """The local queue holds its bound of bytes (BEACON_QUEUE_MAX_BYTES): the load is behind."""


@dataclass(frozen=True)
class Message:
    data: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)
    message_id: str = ""
    delivery_attempt: int = 1


class Publisher(Protocol):
    def publish(self, messages: Sequence[Message]) -> list[str]:
        """Publish all messages durably before returning their ids, or raise BusUnavailable."""

    def close(self) -> None: ...
