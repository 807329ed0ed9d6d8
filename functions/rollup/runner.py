"""The rollup job: recompute the rollup tables for a range of UTC days from raw events.

Each rollup table has one idempotent script, sql/<table>/rollup.sql, that replaces the range's
rows in one transaction, so re-running a range (late events, a failed run, a backfill) is always
safe. The run order comes from the catalogue: a table after the tables its metadata depends on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from functions import runtime
from functions.catalogue import rollup_order, table
from functions.jobs import JobInputError, parse_date
from functions.warehouse import Warehouse

ROLLUP_TABLES: tuple[str, ...] = rollup_order()
MAX_RANGE_DAYS = 400


def run_rollups(
    warehouse: Warehouse,
    *,
    start: date,
    end: date,
    tables: Sequence[str] | None = None,
    churn_days: int | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """Recompute `tables` (default all, always in ROLLUP_TABLES order) for start..end inclusive.

    Returns {"start", "end", "tables": {table: rows changed (deleted + inserted)}, "seconds"}.
    """
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    chosen = ROLLUP_TABLES if tables is None else _ordered(tables)
    params = script_params(start, end, churn_days=churn_days, currency=currency)
    began = time.perf_counter()
    changed = {name: warehouse.execute(rollup_script(name), params) for name in chosen}
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "tables": changed,
        "seconds": round(time.perf_counter() - began, 3),
    }


def script_params(
    start: date, end: date, *, churn_days: int | None = None, currency: str | None = None
) -> dict[str, Any]:
    """The @parameters of one run of the rollup scripts (settings fill what is not given)."""
    settings = runtime.get_settings()
    return {
        "start_date": start,
        "end_date": end,
        "reporting_currency": currency or settings.reporting_currency,
        "churn_days": churn_days if churn_days is not None else settings.churn_days,
        # Tags the rows a state script writes, so it can drop the rows they replace after.
        "run_id": uuid.uuid4().hex,
    }


def handle_rollup(body: Mapping[str, Any]) -> dict[str, Any]:
    """POST /v1/jobs/rollup {"start"?, "end"?, "days"?, "tables"?}: validate, then run_rollups."""
    settings = runtime.get_settings()
    start, end = resolve_range(
        body, today=datetime.now(UTC).date(), trailing_days=settings.rollup_trailing_days
    )
    tables = body.get("tables")
    if tables is not None:
        if not isinstance(tables, list) or not all(isinstance(t, str) for t in tables):
            raise JobInputError("tables must be a list of table names")
        unknown = sorted(set(tables) - set(ROLLUP_TABLES))
        if unknown:
            raise JobInputError(f"tables: unknown rollup tables {', '.join(unknown)}")
    return run_rollups(
        runtime.get_warehouse(),
        start=start,
        end=end,
        tables=tables,
        churn_days=settings.churn_days,
    )


def resolve_range(body: Mapping[str, Any], *, today: date, trailing_days: int) -> tuple[date, date]:
    """The inclusive range a job body asks for: "end" defaults to today (UTC), "start" to the
    `days` (default trailing_days) days ending on "end"."""
    end = parse_date(body, "end") or today
    start = parse_date(body, "start")
    if start is None:
        days = body.get("days", trailing_days)
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise JobInputError(f"days must be a positive integer, got {days!r}")
        if days > MAX_RANGE_DAYS:
            raise JobInputError(f"days must be at most {MAX_RANGE_DAYS}, got {days}")
        start = end - timedelta(days=days - 1)
    if start > end:
        raise JobInputError(f"start {start} is after end {end}")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise JobInputError(f"the range {start}..{end} is longer than {MAX_RANGE_DAYS} days")
    return start, end


def rollup_script(name: str) -> str:
    script = table(name).rollup_sql
    assert script is not None  # ROLLUP_TABLES holds only tables with a rollup.sql
    return script


def _ordered(tables: Sequence[str]) -> tuple[str, ...]:
    unknown = sorted(set(tables) - set(ROLLUP_TABLES))
    if unknown:
        raise ValueError(f"unknown rollup tables: {', '.join(unknown)}")
    return tuple(table for table in ROLLUP_TABLES if table in set(tables))
