"""Turn warehouse values into JSON values, and the shared date windows of the reports."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any


def json_value(value: Any) -> Any:
    """Dates as YYYY-MM-DD, timestamps as ISO 8601 UTC, decimals as floats, NaN as null."""
    kind = type(value)
    # Exact type checks first: this runs for every cell of every report (the hot path).
    if kind is int or kind is str or value is None or kind is bool:
        return value
    if kind is float:
        # Sums of money pick up binary noise (12.300000000000001); six places keep cents exact.
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


def parse_json_time(value: Any) -> datetime | None:
    """A timestamp as json_value wrote it (ISO 8601, Z), back as an aware UTC datetime."""
    if value is None:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def strict_json(body: Any) -> str:
    """BODY as strict JSON: a NaN or Infinity anywhere (a ratio of zeros, a sum that
    overflowed) becomes null, so every answer parses in any JSON parser."""
    try:
        return json.dumps(body, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_finite(body), separators=(",", ":"), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {key: json_value(value) for key, value in row.items()}


def day_window(today: date, days: int) -> dict[str, date]:
    """The last `days` UTC days, today included, as @start_date/@end_date."""
    return {"start_date": today - timedelta(days=days - 1), "end_date": today}


def week_start(day: date) -> date:
    """The Monday of day's week, as the retention rollup starts its weeks."""
    return day - timedelta(days=day.weekday())


def hour_window(now: datetime, hours: int) -> dict[str, Any]:
    """The last `hours` whole UTC hours, the current one included, with their date bounds."""
    end_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start_hour = end_hour - timedelta(hours=hours - 1)
    return {
        "start_hour": start_hour,
        "end_hour": end_hour,
        "start_date": start_hour.date(),
        "end_date": end_hour.date(),
    }
