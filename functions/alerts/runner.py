"""One alerts run: fetch figures, judge the checks, mail what changed, record it in alerts_log."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from functions import runtime
from functions.alerts import checks, figures, state
from functions.alerts.checks import CheckResult
from functions.alerts.mailer import Mailer, MailError, build_message
from functions.alerts.state import AlertRow, Decision
from functions.jobs import parse_dry_run
from functions.settings import Settings
from functions.warehouse import Warehouse

logger = logging.getLogger(__name__)

Check = Callable[[Warehouse, Settings, datetime], CheckResult]

CHECKS: dict[str, Check] = {
    "error_rate": lambda w, s, now: checks.check_error_rate(figures.error_rate(w, now), s),
    "latency_p95": lambda w, s, now: checks.check_latency(figures.latency(w, now), s),
    "revenue_drop": lambda w, s, now: checks.check_revenue_drop(figures.revenue(w, s, now), s),
    "cost": lambda w, s, now: checks.check_cost(figures.cost(w, s, now), s),
    "silence": lambda w, s, now: checks.check_silence(figures.silence(w, s, now), s, now),
}


class AlertsRunError(RuntimeError):
    """Some checks could not run; the others were handled. Raised so the scheduler retries."""


def evaluate(
    warehouse: Warehouse, settings: Settings, now: datetime
) -> tuple[list[CheckResult], dict[str, str]]:
    """Run every check; a failing check is reported, not allowed to silence the others."""
    results: list[CheckResult] = []
    errors: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            results.append(check(warehouse, settings, now))
        except Exception as exc:
            logger.exception("alert check %s failed", name)
            errors[name] = f"{type(exc).__name__}: {exc}"
    return results, errors


def run_alerts(
    warehouse: Warehouse,
    settings: Settings,
    *,
    now: datetime,
    dry_run: bool = False,
    mailer: Mailer | None = None,
) -> dict[str, Any]:
    """Judge every check at `now` and mail new firings, reminders and resolutions.

    With dry_run, nothing is written or mailed: the summary says what would have been.
    """
    cooldown = timedelta(minutes=settings.alert_cooldown_minutes)
    results, errors = evaluate(warehouse, settings, now)
    previous = state.latest_states(warehouse, now, cooldown)
    decisions = [state.decide(r, previous.get(r.name), now, cooldown) for r in results]
    delivered: dict[str, str] = {}
    if not dry_run:
        mailer = mailer or Mailer(settings)
        for decision in decisions:
            if decision.row is not None:
                delivered[decision.check_name] = _act(warehouse, settings, mailer, decision, now)
    return {
        "now": now.isoformat(),
        "dry_run": dry_run,
        "checks": [
            _summary(r, d, delivered.get(d.check_name))
            for r, d in zip(results, decisions, strict=True)
        ],
        "errors": errors,
        "mails_sent": sum(1 for outcome in delivered.values() if outcome == "sent"),
        "mails_pending": sum(1 for outcome in delivered.values() if outcome != "sent"),
    }


def _act(
    warehouse: Warehouse, settings: Settings, mailer: Mailer, decision: Decision, now: datetime
) -> str:
    row = decision.row
    assert row is not None
    if decision.action == "notify":
        state.record(warehouse, row)  # written first: a mail is never sent without its row
    return deliver(warehouse, settings, mailer, row, now)


def deliver(
    warehouse: Warehouse, settings: Settings, mailer: Mailer, row: AlertRow, now: datetime
) -> str:
    """Mail one recorded row; on failure it stays unsent and the next run tries again."""
    if not settings.alert_recipients:
        # Kept unsent rather than dropped: once recipients are configured, the latest alert of
        # each check goes out (one per check, so no backlog floods in).
        logger.warning("alert %s not mailed: BEACON_ALERT_RECIPIENTS is empty", row.check_name)
        return "no_recipients"
    try:
        attempts = mailer.send(build_message(row, settings))
    except MailError as exc:
        logger.error("alert %s not mailed, will retry next run: %s", row.check_name, exc)
        state.mark_failed(warehouse, row, attempts=mailer.attempts)
        return "failed"
    state.mark_sent(warehouse, row, sent_at=now, attempts=attempts)
    return "sent"


def _summary(result: CheckResult, decision: Decision, outcome: str | None) -> dict[str, Any]:
    return {
        "name": result.name,
        "firing": result.firing,
        "evaluated": result.evaluated,
        "severity": result.severity,
        "metric": result.metric,
        "value": result.value,
        "threshold": result.threshold,
        "action": decision.action,
        "reason": decision.reason,
        "status": decision.row.status if decision.row else None,
        "mail": outcome,
        "details": result.details,
    }


def handle_alerts(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """POST /v1/jobs/alerts {"dry_run": bool}."""
    dry_run = parse_dry_run(body)
    summary = run_alerts(
        runtime.get_warehouse(), runtime.get_settings(), now=datetime.now(UTC), dry_run=dry_run
    )
    if summary["errors"]:
        # The other checks' mails are sent and recorded; failing the job makes the scheduler
        # (and the operator) see the broken check instead of it going quiet.
        raise AlertsRunError(f"alert checks failed: {summary['errors']}")
    return summary
