"""Rows written straight into the warehouse, for tests that start after the load function."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any


def event_row(at: datetime, event_type: str = "page_view", **fields: Any) -> dict[str, Any]:
    """An `events` row that happened, arrived and was loaded at `at`, with a fresh event_id."""
    return {
        "event_id": uuid.uuid4().hex,
        "event_type": event_type,
        "timestamp": at,
        "received_at": at,
        "loaded_at": at,
        "source": "test",
        **fields,
    }
