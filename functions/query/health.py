"""GET /v1/health: the pipeline's health as the warehouse sees it, for the dashboard's strip.

Figures: when the load last made an event queryable, when each rollup table was last written,
and the dead letters where this process can read them (the local queue; in the cloud they wait
in a Pub/Sub subscription, which a Cloud Monitoring alert policy watches). `beacon dev`'s
/metrics exports the same figures (functions/local/metrics.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from functions import runtime
from functions.query import params
from functions.query.reports import Args, Body, Queries
from functions.query.values import parse_json_time

ROLLUP_LOOKBACK_DAYS = 100  # every rollup run rewrites rows of this many recent days at most


def _age(moment: Any, now: datetime) -> float | None:
    when = parse_json_time(moment)
    return None if when is None else round((now - when).total_seconds(), 3)


def dead_letters() -> int | None:
    """Messages in dead letters, or None where this process cannot count them (the cloud)."""
    if runtime.get_settings().backend != "local":
        return None
    depth = getattr(runtime.get_publisher(), "depth", None)
    return int(depth()["dead"]) if callable(depth) else None


def warehouse_figures(q: Queries) -> tuple[dict[str, Any], dict[str, Any]]:
    """The warehouse's side, as JSON values: the newest loaded and received times of events,
    and each rollup table's last write, by table name."""
    today = q.now.date()
    loaded = q.rows("health_last_loaded", {"today": today})[0]
    rollups = q.rows("health_last_rollups", {"today": today, "days": ROLLUP_LOOKBACK_DAYS})
    written = {str(row["table_name"]): row["last_updated_at"] for row in rollups}
    return loaded, dict(sorted(written.items()))


def health(q: Queries, args: Args) -> Body:
    params.reject_unknown(args, frozenset())
    loaded, written = warehouse_figures(q)
    return {
        "as_of": q.now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "last_event_loaded_at": loaded["last_loaded_at"],
        "seconds_since_last_load": _age(loaded["last_loaded_at"], q.now),
        "last_event_received_at": loaded["last_received_at"],
        "rollups": [
            {"table": table, "last_updated_at": moment, "seconds_ago": _age(moment, q.now)}
            for table, moment in written.items()
        ],
        "dead_letters": dead_letters(),
    }
