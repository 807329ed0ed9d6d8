"""GDPR requests: erase a user everywhere, or export their events; each logged in privacy_log.

A user is matched by identity, never by substring: on user_id or anonymous_id in raw events, on
the user key of the user-level rollups, and on the user_keys that ingest extracted from a
rejected payload in bad_events. Only a rejected payload that could not be parsed is matched on
its text, where the id is the value of a user key, in its raw and its escaped spelling (see
key_pattern). After the raw rows go, the rollups of every day the user
touched are recomputed, so aggregate figures stop counting them too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from functions import runtime
from functions.catalogue import user_tables
from functions.jobs import JobInputError
from functions.rollup.runner import run_rollups
from functions.settings import Settings
from functions.sqlfiles import load_sql
from functions.warehouse import Warehouse, insert_all

logger = logging.getLogger(__name__)

# Erasure reaches every partition: events may be timestamped as early as year 1, and a failed
# retention run may leave old partitions behind. With retention healthy no partition is older
# than its cutoff, so this scans no more than a tighter bound.
ERASE_SINCE = date(1, 1, 1)
# An active day also counts in the MAU of the 27 days after it (daily_kpis.mau is 28 days).
MAU_TRAILING_DAYS = 27
FAILED_REQUEST_LOOKBACK = timedelta(days=30)


def user_hash(user_id: str) -> str:
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()


def erased_tables() -> list[str]:
    """Tables holding user rows (the catalogue's user_keys), raw tables first: each has its own
    sql/gdpr/delete_<table>.sql."""
    return list(user_tables())


def affected_ranges(
    days: Sequence[date], trailing_days: int, today: date
) -> list[tuple[date, date]]:
    """Merge each active day plus the days whose trailing windows include it into ranges."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(days):
        end = min(day + timedelta(days=trailing_days), max(today, day))
        if ranges and day <= ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], end))
        else:
            ranges.append((day, end))
    return ranges


def _pending_range(warehouse: Warehouse, hashed: str, now: datetime) -> list[date]:
    """Days of a previous erasure of this user whose rollups failed to recompute."""
    params = {"since": (now - FAILED_REQUEST_LOOKBACK).date(), "user_hash": hashed}
    rows = warehouse.query(load_sql("gdpr/last_request"), params).rows
    if rows and rows[0]["status"] == "rollups_failed" and rows[0]["first_day"] is not None:
        return [rows[0]["first_day"], rows[0]["last_day"]]
    return []


def delete_user(
    warehouse: Warehouse, settings: Settings, user_id: str, *, now: datetime | None = None
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    hashed = user_hash(user_id)
    params = _match_params(user_id)
    days = [row["day"] for row in warehouse.query(load_sql("gdpr/user_days"), params).rows]
    days += _pending_range(warehouse, hashed, now)
    counts = {
        table: warehouse.execute(load_sql(f"gdpr/delete_{table}"), params)
        for table in erased_tables()
    }
    trailing = max(MAU_TRAILING_DAYS, settings.churn_days)
    ranges = affected_ranges(days, trailing, now.date())
    status = "rollups_failed"
    try:
        for start, end in ranges:
            run_rollups(warehouse, start=start, end=end, churn_days=settings.churn_days)
        status = "done"
    finally:
        # Logged even when the rollups fail, with the days still to recompute: a retry of the
        # same request picks them up (its raw rows are gone, so it could not find them again).
        first = ranges[0][0] if ranges else None
        last = ranges[-1][1] if ranges else None
        request_id = _log(warehouse, "delete", hashed, status, counts, now, first, last)
    return {
        "request_id": request_id,
        "user_hash": hashed,
        "status": status,
        "deleted": counts,
        "rollup_ranges": [[start.isoformat(), end.isoformat()] for start, end in ranges],
    }


def _match_params(user_id: str) -> dict[str, Any]:
    """The parameters of the sql/gdpr statements that find one user's rows."""
    return {"since": ERASE_SINCE, "user_id": user_id, "key_pattern": key_pattern(user_id)}


_RE2_META = frozenset("\\.+*?()|[]{}^$")


def key_pattern(user_id: str) -> str:
    """An RE2 pattern for the id as the value of a user key in JSON text that did not parse.

    It matches `"user_id": "ID"` or `"anonymous_id":"ID"` (or Segment's `"userId"` and
    `"anonymousId"`), the id spelled as a JSON string
    either in UTF-8 or with \\u escapes, so an id that is also a common JSON word (`web`,
    `event_type`, `null`) matches only where it names a user.
    """
    spellings = {json.dumps(user_id, ensure_ascii=False), json.dumps(user_id)}
    values = "|".join(_re2_literal(spelling) for spelling in sorted(spellings))
    return rf'"(?:user_id|anonymous_id|userId|anonymousId)"\s*:\s*(?:{values})'


def _re2_literal(text: str) -> str:
    # re.escape also escapes spaces, '#', '&', '~' and '-', which RE2 (BigQuery's and DuckDB's
    # regex engine) refuses as unknown escapes; RE2 takes a backslash before its metacharacters.
    return "".join("\\" + ch if ch in _RE2_META else ch for ch in text)


@dataclass(frozen=True)
class UserExport:
    events: list[str]  # JSON lines, one object per raw event, oldest first
    bad_events: list[dict[str, Any]]  # the user's rejected payloads, with reason and errors


def export_user(
    warehouse: Warehouse, settings: Settings, user_id: str, *, now: datetime | None = None
) -> UserExport:
    """Everything stored about the user that is not an aggregate: raw events and rejections."""
    now = now or datetime.now(UTC)
    params = _match_params(user_id)
    lines = [
        str(row["line"]) for row in warehouse.query(load_sql("gdpr/export_events"), params).rows
    ]
    bad = [
        {
            "received_at": _iso(row["received_at"]),
            "reason": row["reason"],
            "errors": _json_value(row["errors"]),
            "payload": row["payload"],
        }
        for row in warehouse.query(load_sql("gdpr/export_bad_events"), params).rows
    ]
    counts = {"events": len(lines), "bad_events": len(bad)}
    _log(warehouse, "export", user_hash(user_id), "done", counts, now, None, None)
    return UserExport(lines, bad)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    return str(value)


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _log(
    warehouse: Warehouse,
    action: str,
    hashed: str,
    status: str,
    counts: Mapping[str, int],
    now: datetime,
    first_day: date | None,
    last_day: date | None,
) -> str:
    request_id = uuid.uuid4().hex
    row = {
        "request_id": request_id,
        "requested_at": now,
        "action": action,
        "user_hash": hashed,
        "status": status,
        "counts": dict(counts),
        "first_day": first_day,
        "last_day": last_day,
    }
    insert_all(warehouse, "privacy_log", [row])
    logger.info("privacy request %s: %s %s %s", request_id, action, status, dict(counts))
    return request_id


def _user_id(body: Mapping[str, Any]) -> str:
    user_id = body.get("user_id")
    if not isinstance(user_id, str) or not user_id.strip():
        raise JobInputError("user_id must be a non-empty string")
    return user_id


def handle_delete(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """POST /v1/jobs/gdpr/delete {"user_id": "..."}."""
    user_id = _user_id(body)
    return delete_user(runtime.get_warehouse(), runtime.get_settings(), user_id)


def handle_export(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """POST /v1/jobs/gdpr/export {"user_id": "..."}: {"events": [...], "bad_events": [...]}."""
    user_id = _user_id(body)
    found = export_user(runtime.get_warehouse(), runtime.get_settings(), user_id)
    return {
        "user_hash": user_hash(user_id),
        "events": [json.loads(line) for line in found.events],
        "bad_events": found.bad_events,
    }
