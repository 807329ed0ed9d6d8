"""The 0-100 engagement score of one user, from their activity in a trailing window.

    score = round(100 * (0.4 * recency + 0.3 * frequency + 0.2 * depth + 0.1 * monetary))

    recency   = max(0, 1 - days_since_last_seen / window_days)   # seen today -> 1
    frequency = active_days / window_days                        # active every day -> 1
    depth     = min(1, events / active_days / 20)                # 20+ events per active day -> 1
    monetary  = 1 if revenue > 0 else 0                           # paid anything in the window

Recency and frequency carry most weight because they predict return visits best; depth and
money separate a quick look from real use. The formula is returned with every score.
"""

from __future__ import annotations

from typing import Any

FORMULA = (
    "round(100 * (0.4*recency + 0.3*frequency + 0.2*depth + 0.1*monetary)); "
    "recency = max(0, 1 - days_since_last_seen/window_days); "
    "frequency = active_days/window_days; "
    "depth = min(1, events/active_days/20); "
    "monetary = 1 if revenue > 0 else 0"
)
EVENTS_PER_DAY_FOR_FULL_DEPTH = 20


def components(
    *, window_days: int, days_since_last_seen: int, active_days: int, events: int, revenue: float
) -> dict[str, float]:
    recency = max(0.0, 1.0 - days_since_last_seen / window_days)
    frequency = min(1.0, active_days / window_days)
    depth = min(1.0, events / active_days / EVENTS_PER_DAY_FOR_FULL_DEPTH) if active_days else 0.0
    monetary = 1.0 if revenue > 0 else 0.0
    return {"recency": recency, "frequency": frequency, "depth": depth, "monetary": monetary}


def score(parts: dict[str, float]) -> int:
    weighted = (
        0.4 * parts["recency"]
        + 0.3 * parts["frequency"]
        + 0.2 * parts["depth"]
        + 0.1 * parts["monetary"]
    )
    return max(0, min(100, round(100 * weighted)))


def engagement(row: dict[str, Any], window_days: int) -> dict[str, Any]:
    """Shape the engagement query's one row into the response body."""
    parts = components(
        window_days=window_days,
        days_since_last_seen=int(row["days_since_last_seen"]),
        active_days=int(row["active_days"]),
        events=int(row["events"]),
        revenue=float(row["revenue"] or 0.0),
    )
    return {
        "sessions": int(row["sessions"]),
        "events": int(row["events"]),
        "active_days": int(row["active_days"]),
        "revenue": round(float(row["revenue"] or 0.0), 2),
        "last_seen": row["last_seen"],
        "window_days": window_days,
        "score": score(parts),
        "score_components": {key: round(value, 4) for key, value in parts.items()},
        "score_formula": FORMULA,
    }
