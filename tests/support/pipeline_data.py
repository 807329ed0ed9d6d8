"""Warehouse data the way `beacon dev` makes it, for the query and dashboard tests.

The demo generator's seeded history goes through what ingest does to a request (schema
validation, then one envelope per batch), the load function's `load_messages` and the rollup job
over the whole range. So the rollup tables the tests read are computed by the real pipeline from
realistic traffic, not written by hand. A few hand-built journeys go the same way: their users
(u1..u5) have answers a test can work out on paper, such as one user's engagement.

`build` returns every event exactly as it was sent, so a test can compute an expected figure
from the raw events in Python, independently of the SQL under test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from functions.bus import Message
from functions.ingest import records
from functions.load.core import load_messages
from functions.local.devserver import demo
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.rollup.runner import run_rollups
from functions.schema import validate_events

DEMO_SEED = 20_251_014  # fixed, so every run sees the same history
DEMO_EVENTS = 4_000  # a few thousand over the demo's six weeks: every panel has data
BATCH_SIZE = 500  # ingest's limit per request
SOURCE = "pipeline-data"  # the write key's source name ingest would stamp
JOURNEY_NAMESPACE = uuid.UUID("7a1c3c7e-3f44-4d8e-9b0e-5d3a0c2f6b11")

# (user, [(event_type, minutes before the build, revenue in USD)]), in the order each user did
# things; every journey lies within the last 24 hours, so it is also in the realtime tiles.
JOURNEYS: tuple[tuple[str, tuple[tuple[str, int, float | None], ...]], ...] = (
    ("u1", (("signup", 600, None), ("search", 590, None), ("payment", 580, 120.0))),
    ("u2", (("signup", 500, None), ("search", 490, None))),
    ("u3", (("search", 400, None), ("signup", 390, None))),
    ("u4", (("signup", 300, None), ("search", 290, None), ("payment", 280, 60.0))),
    ("u5", (("signup", 200, None),)),
)


@dataclass(frozen=True)
class PipelineData:
    now: datetime  # the clock the data was built at: no event is later
    events: list[dict[str, Any]]  # every event loaded, as its client sent it
    first_day: date  # the rollups cover first_day..now.date()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def journey_events(now: datetime) -> list[dict[str, Any]]:
    """The hand-built journeys as a client would send them; u2's search fails."""
    events = []
    for user, steps in JOURNEYS:
        for index, (event_type, minutes_ago, revenue) in enumerate(steps):
            event: dict[str, Any] = {
                "event_id": str(uuid.uuid5(JOURNEY_NAMESPACE, f"{user}-{index}")),
                "event_type": event_type,
                "timestamp": iso(now - timedelta(minutes=minutes_ago)),
                "user_id": user,
                "session_id": f"{user}-s{index // 2}",  # two events per session
                "platform": "web",
                "success": event_type != "search" or user != "u2",
            }
            if revenue is not None:
                event.update(revenue=revenue, currency="USD")
            events.append(event)
    return events


def bus_messages(events: Sequence[dict[str, Any]], received_at: datetime) -> Iterator[Message]:
    """What ingest publishes for these events sent in batches of BATCH_SIZE."""
    for batch in demo.batches(events, BATCH_SIZE):
        accepted, rejected = validate_events(list(batch), received_at=received_at)
        # Test data that ingest would refuse is a mistake in the test, not something to load.
        assert rejected == [], [r.to_dict() for r in rejected]
        yield from records.messages(
            source=SOURCE,
            request_id=uuid.uuid4().hex,
            received_at=received_at.isoformat(),
            sent_at=None,
            accepted=accepted,
            bad_rows=[],
        )


def build(
    path: Path,
    *,
    now: datetime | None = None,
    demo_events: int = DEMO_EVENTS,
    extra_events: Iterable[dict[str, Any]] = (),
) -> PipelineData:
    """Create the DuckDB file at PATH holding the demo history, the journeys and EXTRA_EVENTS,
    loaded and rolled up like `beacon dev` does; return what was sent."""
    now = now or datetime.now(UTC)
    history = demo.generate_events(demo_events, seed=DEMO_SEED, now=now)
    events = [*history, *journey_events(now), *extra_events]
    first_day = now.date() - timedelta(days=demo.HISTORY_DAYS)
    warehouse = DuckDBWarehouse(path)
    try:
        warehouse.ensure_tables()
        load_messages(list(bus_messages(events, now)), warehouse, now=now)
        run_rollups(warehouse, start=first_day, end=now.date())
    finally:
        warehouse.close()
    return PipelineData(now=now, events=events, first_day=first_day)
