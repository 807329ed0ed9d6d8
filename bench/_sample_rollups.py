"""A year of synthetic rollup rows for the query latency bench (bench/_query_latency.py): rows from
sql/bench/sample_rollups.sql and a few raw journeys, so every endpoint has data to read without
generating and rolling up a year of raw events. Bench-only, hence outside the product package;
the tests use tests/support/pipeline_data.py, real pipeline output, instead.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from functions.sqlfiles import load_sql
from functions.warehouse import Warehouse
from tests.support.pipeline_data import JOURNEYS  # the same users the query tests follow


def sample_events(now: datetime) -> list[dict[str, Any]]:
    events = []
    for user, steps in JOURNEYS:
        for index, (event_type, minutes_ago, revenue) in enumerate(steps):
            moment = now - timedelta(minutes=minutes_ago)
            events.append(
                {
                    "event_id": f"sample-{user}-{index}",
                    "event_type": event_type,
                    "timestamp": moment,
                    "received_at": moment,
                    "loaded_at": moment,
                    "source": "sample",
                    "user_id": user,
                    "session_id": f"{user}-s{index // 2}",
                    "platform": "web",
                    "revenue": revenue,
                    "currency": "USD" if revenue is not None else None,
                    "success": event_type != "search" or user != "u2",
                }
            )
    return events


def fill(warehouse: Warehouse, today: date, days: int, now: datetime | None = None) -> None:
    """Write `days` days of sample rollups ending `today`, and the sample journeys."""
    window = {"start_date": today - timedelta(days=days - 1), "end_date": today}
    warehouse.execute(load_sql("bench/sample_rollups"), window)
    warehouse.insert_rows("events", sample_events(now or datetime.now(UTC)))
