"""Alert state in alerts_log: what to do with each check's result given its latest row.

`decide` is pure: a still-firing alert stays quiet for the cooldown after its last mail, then
reminds; a firing alert that stops gets exactly one "resolved" row; a row whose mail was never
accepted is retried by the next run instead of writing another. The rest reads and writes rows.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.alerts.checks import CheckResult
from functions.sqlfiles import load_sql
from functions.warehouse import Warehouse

FIRING = "firing"
RESOLVED = "resolved"
# How far back the latest state is looked for, on top of the cooldown: an open alert writes a
# row at least every cooldown, so this only matters when the alerts job itself stopped running.
LOOKBACK_MARGIN = timedelta(days=7)


@dataclass(frozen=True)
class AlertRow:
    alert_id: str
    check_name: str
    status: str
    severity: str
    metric: str
    value: float | None
    threshold: float | None
    fired_at: datetime
    figures: dict[str, Any] = field(default_factory=dict)
    sent: bool = False
    sent_at: datetime | None = None
    attempts: int = 0


@dataclass(frozen=True)
class Decision:
    check_name: str
    action: str  # notify: write `row` and mail it; retry: mail the unsent `row`; none: nothing
    reason: str
    row: AlertRow | None = None


def decide(
    result: CheckResult, previous: AlertRow | None, now: datetime, cooldown: timedelta
) -> Decision:
    name = result.name
    if not result.evaluated:
        return Decision(name, "none", "not evaluated; state kept")
    # The last mail never went out: deliver that one (exactly once) before anything newer.
    # A firing row that is now quiet is superseded by its resolution instead, so nobody is
    # told about a problem that is over without also being told it is over.
    superseded = previous is not None and previous.status == FIRING and not result.firing
    if previous is not None and not previous.sent and not superseded:
        return Decision(name, "retry", "previous mail not delivered yet", previous)
    was_firing = previous is not None and previous.status == FIRING
    if result.firing and not was_firing:
        return Decision(name, "notify", "started firing", new_row(result, FIRING, now, now))
    if result.firing and previous is not None:
        last_mail = previous.sent_at or previous.fired_at
        if now - last_mail < cooldown:
            return Decision(name, "none", "still firing, within cooldown")
        episode = _episode_start(previous)
        return Decision(
            name, "notify", "still firing, reminder", new_row(result, FIRING, now, episode)
        )
    if was_firing and previous is not None:
        row = new_row(result, RESOLVED, now, _episode_start(previous))
        return Decision(name, "notify", "stopped firing", row)
    return Decision(name, "none", "quiet")


def new_row(result: CheckResult, status: str, now: datetime, episode_start: datetime) -> AlertRow:
    figures = {
        "unit": result.unit,
        "direction": result.direction,
        "firing_since": episode_start.isoformat(),
        "details": result.details,
    }
    return AlertRow(
        alert_id=uuid.uuid4().hex,
        check_name=result.name,
        status=status,
        severity=result.severity,
        metric=result.metric,
        value=result.value,
        threshold=result.threshold,
        fired_at=now,
        figures=figures,
    )


def _episode_start(previous: AlertRow) -> datetime:
    raw = previous.figures.get("firing_since")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else previous.fired_at


def latest_states(warehouse: Warehouse, now: datetime, cooldown: timedelta) -> dict[str, AlertRow]:
    since = now - cooldown - LOOKBACK_MARGIN
    rows = warehouse.query(load_sql("alerts/latest_state"), {"since": since}).rows
    return {row["check_name"]: _row(row) for row in rows}


def history(warehouse: Warehouse, since: datetime) -> list[AlertRow]:
    return [_row(row) for row in warehouse.query(load_sql("alerts/history"), {"since": since}).rows]


def record(warehouse: Warehouse, row: AlertRow) -> None:
    warehouse.execute(
        load_sql("alerts/insert_log"),
        {
            "alert_id": row.alert_id,
            "check_name": row.check_name,
            "status": row.status,
            "severity": row.severity,
            "metric": row.metric,
            "value": row.value,
            "threshold": row.threshold,
            "figures": json.dumps(row.figures, default=str),
            "fired_at": row.fired_at,
        },
    )


def mark_sent(warehouse: Warehouse, row: AlertRow, *, sent_at: datetime, attempts: int) -> AlertRow:
    params = {"alert_id": row.alert_id, "fired_at": row.fired_at}
    warehouse.execute(
        load_sql("alerts/mark_sent"), {**params, "sent_at": sent_at, "attempts": attempts}
    )
    return replace(row, sent=True, sent_at=sent_at, attempts=row.attempts + attempts)


def mark_failed(warehouse: Warehouse, row: AlertRow, *, attempts: int) -> AlertRow:
    params = {"alert_id": row.alert_id, "fired_at": row.fired_at, "attempts": attempts}
    warehouse.execute(load_sql("alerts/mark_failed"), params)
    return replace(row, attempts=row.attempts + attempts)


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    # DuckDB returns TIMESTAMP naive; every Beacon timestamp is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _row(raw: dict[str, Any]) -> AlertRow:
    figures = raw.get("figures")
    if isinstance(figures, str):
        figures = json.loads(figures)
    fired_at = _utc(raw["fired_at"])
    assert fired_at is not None  # NOT NULL column
    return AlertRow(
        alert_id=str(raw["alert_id"]),
        check_name=str(raw["check_name"]),
        status=str(raw["status"]),
        severity=str(raw["severity"]),
        metric=str(raw["metric"]),
        value=None if raw.get("value") is None else float(raw["value"]),
        threshold=None if raw.get("threshold") is None else float(raw["threshold"]),
        fired_at=fired_at,
        figures=figures if isinstance(figures, dict) else {},
        sent=bool(raw["sent"]),
        sent_at=_utc(raw.get("sent_at")),
        attempts=int(raw.get("attempts") or 0),
    )
