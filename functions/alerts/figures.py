"""Fetch the figures each check judges, one small partition-filtered SQL file per check."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.alerts.checks import (
    CostFigures,
    ErrorRateFigures,
    LatencyFigures,
    RevenueFigures,
    SilenceFigures,
)
from functions.settings import Settings
from functions.sqlfiles import load_sql
from functions.warehouse import Warehouse

# The location is pasted into the SQL text (a table qualifier cannot be a parameter), so only
# location-shaped names pass. Used with fullmatch: `$` alone would let a trailing newline in.
_LOCATION = re.compile(r"[a-z0-9-]+")


def _window(now: datetime, hours: int) -> dict[str, Any]:
    return {"since": now - timedelta(hours=hours), "until": now}


def _one(warehouse: Warehouse, name: str, params: dict[str, Any]) -> dict[str, Any]:
    rows = warehouse.query(load_sql(name), params).rows
    return rows[0] if rows else {}


def error_rate(warehouse: Warehouse, now: datetime) -> ErrorRateFigures:
    row = _one(warehouse, "alerts/error_rate", _window(now, 1))
    return ErrorRateFigures(events=int(row.get("events") or 0), errors=int(row.get("errors") or 0))


def latency(warehouse: Warehouse, now: datetime) -> LatencyFigures:
    row = _one(warehouse, "alerts/latency", _window(now, 1))
    p95 = row.get("p95_ms")
    return LatencyFigures(
        calls=int(row.get("calls") or 0), p95_ms=float(p95) if p95 is not None else None
    )


def revenue(warehouse: Warehouse, settings: Settings, now: datetime) -> RevenueFigures:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = warehouse.query(
        load_sql("alerts/revenue"),
        {
            "today": now.date(),
            "weeks": settings.revenue_baseline_weeks,
            "seconds_into_day": int((now - midnight).total_seconds()),
            "currency": settings.reporting_currency,  # the daily KPIs' currency
        },
    ).rows
    weekly = {
        int(row["weeks_ago"]): (float(row["revenue"] or 0), int(row["transactions"] or 0))
        for row in rows
    }
    today_revenue, today_transactions = weekly.pop(0, (0.0, 0))
    return RevenueFigures(settings.reporting_currency, today_revenue, today_transactions, weekly)


def cost(warehouse: Warehouse, settings: Settings, now: datetime) -> CostFigures:
    if settings.backend == "gcp":
        location = settings.bigquery_location.lower()
        if not _LOCATION.fullmatch(location):
            raise ValueError(f"BEACON_BIGQUERY_LOCATION {location!r} is not a location name")
        sql = load_sql("alerts/cost_jobs").replace("{location}", location)
        source = f"region-{location}.INFORMATION_SCHEMA.JOBS"
    else:
        sql, source = load_sql("alerts/cost_local"), "query_costs"
    rows = warehouse.query(sql, _window(now, 24)).rows
    row = rows[0] if rows else {}
    return CostFigures(int(row.get("bytes_billed") or 0), int(row.get("jobs") or 0), source)


def silence(warehouse: Warehouse, settings: Settings, now: datetime) -> SilenceFigures:
    since = now - timedelta(minutes=settings.silence_minutes)
    row = _one(warehouse, "alerts/silence", {"since": since, "until": now})
    last = row.get("last_received_at")
    if isinstance(last, datetime) and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)  # DuckDB hands TIMESTAMP back naive; it is UTC
    return SilenceFigures(
        events_in_window=int(row.get("events_in_window") or 0),
        last_received_at=last if isinstance(last, datetime) else None,
    )
