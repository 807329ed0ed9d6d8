"""The five alert checks as pure functions: figures and settings in, a CheckResult out.

The figures come from small SQL files (see `figures.py`); nothing here does I/O, so every
threshold rule is tested with plain numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from functions.settings import Settings, SettingsError

CRITICAL = "critical"
WARNING = "warning"
BYTES_PER_TIB = 2**40
# A revenue baseline averaging fewer transactions than this is too noisy to compare against:
# a handful of payments more or less would swing it past any sensible threshold.
MIN_BASELINE_TRANSACTIONS = 10


@dataclass(frozen=True)
class CheckResult:
    name: str  # stable id of the check, the key of its state in alerts_log
    firing: bool
    severity: str  # critical or warning
    metric: str  # what `value` measures, as shown in the mail's subject
    value: float | None  # None when there was nothing to measure
    threshold: float
    details: dict[str, Any] = field(default_factory=dict)
    unit: str = ""  # ratio, ms, USD, minutes: how the mail formats value and threshold
    direction: str = "over"  # "over" when high values fire, "under" when low values fire
    # False when the check could not judge (silence outside working hours): its state is kept,
    # so an open alert is neither re-sent nor resolved by a check that did not look.
    evaluated: bool = True


@dataclass(frozen=True)
class ErrorRateFigures:
    events: int
    errors: int


@dataclass(frozen=True)
class LatencyFigures:
    calls: int
    p95_ms: float | None


@dataclass(frozen=True)
class RevenueFigures:
    currency: str
    today: float
    today_transactions: int
    weekly: dict[int, tuple[float, int]]  # weeks ago -> (revenue, transactions), same hours


@dataclass(frozen=True)
class CostFigures:
    bytes_billed: int
    jobs: int
    source: str  # where the bytes were counted: INFORMATION_SCHEMA.JOBS or query_costs


@dataclass(frozen=True)
class SilenceFigures:
    events_in_window: int
    last_received_at: datetime | None


def check_error_rate(figures: ErrorRateFigures, settings: Settings) -> CheckResult:
    enough = figures.events >= settings.error_rate_min_events
    rate = figures.errors / figures.events if figures.events else None
    return CheckResult(
        name="error_rate",
        firing=enough and rate is not None and rate > settings.error_rate_threshold,
        severity=CRITICAL,
        metric="error rate (last hour)",
        value=rate,
        threshold=settings.error_rate_threshold,
        unit="ratio",
        details={
            "events": figures.events,
            "errors": figures.errors,
            "min_events": settings.error_rate_min_events,
            "enough_events": enough,
        },
    )


def check_latency(figures: LatencyFigures, settings: Settings) -> CheckResult:
    p95 = figures.p95_ms
    return CheckResult(
        name="latency_p95",
        firing=p95 is not None and p95 > settings.latency_p95_threshold_ms,
        severity=WARNING,
        metric="API latency p95 (last hour)",
        value=p95,
        threshold=settings.latency_p95_threshold_ms,
        unit="ms",
        details={"api_calls": figures.calls},
    )


def check_revenue_drop(figures: RevenueFigures, settings: Settings) -> CheckResult:
    weeks = settings.revenue_baseline_weeks
    history = [figures.weekly.get(week, (0.0, 0)) for week in range(1, weeks + 1)]
    baseline = sum(revenue for revenue, _ in history) / weeks if weeks else 0.0
    transactions = sum(count for _, count in history) / weeks if weeks else 0.0
    # Compare only against a full history with real volume: a new project, or a quiet hour
    # just after midnight, would otherwise "drop" on noise.
    trivial = (
        weeks <= 0
        or any(revenue <= 0 for revenue, _ in history)
        or transactions < MIN_BASELINE_TRANSACTIONS
    )
    floor = baseline * (1 - settings.revenue_drop_threshold)
    drop = 1 - figures.today / baseline if baseline > 0 else None
    return CheckResult(
        name="revenue_drop",
        firing=not trivial and figures.today < floor,
        severity=CRITICAL,
        metric=f"revenue today so far ({figures.currency})",
        value=figures.today,
        threshold=floor,
        unit=figures.currency,
        direction="under",
        details={
            "baseline_average": baseline,
            "baseline_weeks": weeks,
            "baseline_by_week": {
                str(week): revenue for week, (revenue, _) in enumerate(history, 1)
            },
            "baseline_average_transactions": transactions,
            "baseline_trivial": trivial,
            "drop": drop,
            "max_drop": settings.revenue_drop_threshold,
            "today_transactions": figures.today_transactions,
        },
    )


def check_cost(figures: CostFigures, settings: Settings) -> CheckResult:
    cost = figures.bytes_billed / BYTES_PER_TIB * settings.price_per_tib_usd
    return CheckResult(
        name="cost",
        firing=cost > settings.daily_budget_usd,
        severity=WARNING,
        metric="BigQuery cost (last 24 h)",
        value=cost,
        threshold=settings.daily_budget_usd,
        unit="USD",
        details={
            "bytes_billed": figures.bytes_billed,
            "jobs": figures.jobs,
            "price_per_tib_usd": settings.price_per_tib_usd,
            "source": figures.source,
        },
    )


def check_silence(figures: SilenceFigures, settings: Settings, now: datetime) -> CheckResult:
    window_start = now - timedelta(minutes=settings.silence_minutes)
    in_hours = window_in_working_hours(window_start, now, settings.working_hours)
    last = figures.last_received_at
    minutes = (now - last).total_seconds() / 60 if last is not None else None
    return CheckResult(
        name="silence",
        firing=in_hours and figures.events_in_window == 0,
        severity=CRITICAL,
        metric="minutes without events",
        # No event in the whole look-back: report at least the silence window itself.
        value=minutes if minutes is not None else float(settings.silence_minutes),
        threshold=float(settings.silence_minutes),
        unit="minutes",
        details={
            "events_in_window": figures.events_in_window,
            "last_received_at": last.isoformat() if last else None,
            "working_hours_utc": settings.working_hours,
        },
        evaluated=in_hours,
    )


def working_hours(spec: str) -> frozenset[int]:
    """UTC hours (0-23) of "HH-HH", end exclusive; "22-06" wraps midnight, "00-24" is all day."""
    start_text, sep, end_text = spec.partition("-")
    try:
        start, end = int(start_text), int(end_text)
    except ValueError:
        raise SettingsError(f"BEACON_WORKING_HOURS must be HH-HH, got {spec!r}") from None
    if not sep or not 0 <= start <= 23 or not 0 <= end <= 24:
        raise SettingsError(f"BEACON_WORKING_HOURS must be HH-HH, got {spec!r}")
    if start < end:
        return frozenset(range(start, end))
    return frozenset(range(start, 24)) | frozenset(range(end))


def window_in_working_hours(start: datetime, end: datetime, spec: str) -> bool:
    """Whether every moment from start to end lies in working hours.

    Nights are quiet by nature, so a silence that began before the working day is no alarm.
    """
    hours = working_hours(spec)
    moment = start
    while moment <= end:
        if moment.hour not in hours:
            return False
        moment = moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return end.hour in hours
