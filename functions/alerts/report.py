"""The scheduled report mail (job `weekly-report`): the period's figures against the period before,
mailed once per period.

The figures come from the rollup tables, so a report reads a few kilobytes; the funnel alone
reads raw events, over the period only. `report_log` holds one row per period mailed, read before
anything is sent: the job may run twice (a scheduler retry, a manual run) and the mail still goes
out once. The row is written after the SMTP server accepted the mail, so a failed send leaves the
period unsent for the next run; the job then fails (500) so that the scheduler retries.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from functions import runtime
from functions.alerts.mailer import Mailer
from functions.alerts.report_mail import build_report_message
from functions.jobs import JobInputError, parse_date, parse_dry_run
from functions.query.reports import Queries, funnel_counts, kpi_totals
from functions.settings import Settings
from functions.sqlfiles import load_sql
from functions.warehouse import Warehouse, insert_all

logger = logging.getLogger(__name__)

PERIODS = ("week", "day")
TOP_ROWS = 10


@dataclass(frozen=True)
class Period:
    kind: str  # week | day
    start: date
    end: date  # inclusive

    @property
    def previous(self) -> Period:
        length = (self.end - self.start).days + 1
        return Period(
            self.kind, self.start - timedelta(days=length), self.start - timedelta(days=1)
        )

    @property
    def report_id(self) -> str:
        return f"report-{self.kind}-{self.start.isoformat()}"

    def window(self) -> dict[str, date]:
        previous = self.previous
        return {
            "start_date": self.start,
            "end_date": self.end,
            "previous_start": previous.start,
            "previous_end": previous.end,
        }


def last_complete(kind: str, today: date) -> Period:
    """The last whole period before today: the previous ISO week (Monday to Sunday), or
    yesterday."""
    if kind == "day":
        return Period(kind, today - timedelta(days=1), today - timedelta(days=1))
    monday = today - timedelta(days=today.weekday())
    return Period(kind, monday - timedelta(weeks=1), monday - timedelta(days=1))


def figures(
    warehouse: Warehouse, settings: Settings, period: Period, now: datetime
) -> dict[str, Any]:
    """Everything the mail shows, as plain values."""
    q = Queries(warehouse, "report", now=now, currency=settings.reporting_currency)
    window = period.window()
    previous = period.previous
    # One read of both periods' days, split here (dates are ISO strings: they sort as dates).
    both = q.rows("kpis", {"start_date": previous.start, "end_date": period.end})
    current_days = [day for day in both if day["date"] >= period.start.isoformat()]
    previous_days = [day for day in both if day["date"] < period.start.isoformat()]
    limited = {**window, "limit": TOP_ROWS}
    return {
        "period": period.kind,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "previous_start": previous.start.isoformat(),
        "previous_end": previous.end.isoformat(),
        "currency": settings.reporting_currency,
        "kpis": kpi_totals(current_days),
        "previous_kpis": kpi_totals(previous_days),
        "days_rolled_up": len(current_days),
        "revenue": q.rows("report_revenue_by_currency", window),
        "funnel": funnel_counts(q, list(settings.report_funnel), window),
        "funnel_steps": list(settings.report_funnel),
        "zero_result_searches": q.rows("report_zero_result_searches", limited),
        "growing_errors": q.rows("report_growing_errors", limited),
        "dashboard_url": settings.dashboard_url,
    }


def already_sent(warehouse: Warehouse, period: Period) -> bool:
    values = {"period": period.kind, "period_start": period.start}
    return bool(warehouse.query(load_sql("report/sent"), values).rows[0]["sent"])


def recipients(settings: Settings) -> tuple[str, ...]:
    return settings.report_recipients or settings.alert_recipients


def run_report(
    warehouse: Warehouse,
    settings: Settings,
    *,
    now: datetime,
    period: Period,
    dry_run: bool = False,
    mailer: Mailer | None = None,
) -> dict[str, Any]:
    """Mail the report of `period` unless it went out already; say what happened."""
    to = recipients(settings)
    summary: dict[str, Any] = {
        "period": period.kind,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "dry_run": dry_run,
        "recipients": list(to),
    }
    if already_sent(warehouse, period):
        return {**summary, "mail": "already_sent"}
    message = build_report_message(figures(warehouse, settings, period, now), settings, to)
    summary["subject"] = str(message["Subject"])
    if dry_run:
        return {**summary, "mail": "not_sent_dry_run"}
    if not to:
        # Nothing recorded: once recipients are set, the next run mails this period.
        logger.warning("report %s not mailed: no recipients configured", period.report_id)
        return {**summary, "mail": "no_recipients"}
    # MailError propagates: the job fails (500), the period stays unsent, the scheduler retries.
    attempts = (mailer or Mailer(settings)).send(message, to)
    row = {
        "period": period.kind,
        "period_start": period.start,
        "report_id": period.report_id,
        "recipients": ",".join(to),
        "sent": True,
        "sent_at": now,
        "attempts": attempts,
    }
    insert_all(warehouse, "report_log", [row])
    return {**summary, "mail": "sent", "attempts": attempts}


def handle_report(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """POST /v1/jobs/report {"period"?: "week" | "day", "date"?: YYYY-MM-DD, "dry_run"?}: the
    last whole period before `date` (default today, UTC)."""
    dry_run = parse_dry_run(body)
    kind = body.get("period", "week")
    if kind not in PERIODS:
        raise JobInputError(f"period must be one of {', '.join(PERIODS)}")
    now = datetime.now(UTC)
    today = parse_date(body, "date") or now.date()
    return run_report(
        runtime.get_warehouse(),
        runtime.get_settings(),
        now=now,
        period=last_complete(str(kind), today),
        dry_run=dry_run,
    )
