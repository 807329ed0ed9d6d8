"""Alert mails: a plain-text and an HTML part built from an alerts_log row, sent over SMTP.

Building is pure (so the mail of a retried row is the same mail); `Mailer` alone talks SMTP and
owns the retry rule: a few attempts with doubling pauses, then MailError, which the runner
answers by leaving the row unsent for the next run.
"""

from __future__ import annotations

import html
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime

from functions.alerts.state import FIRING, AlertRow
from functions.retry import backoff_delay
from functions.settings import Settings

logger = logging.getLogger(__name__)


class MailError(RuntimeError):
    """Every attempt to hand a mail to the SMTP server failed."""


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "minutes":
        return f"{value:,.0f} min"
    if unit:  # a currency code
        return f"{value:,.2f} {unit}"
    return f"{value:,.4g}"


def subject(row: AlertRow) -> str:
    unit = str(row.figures.get("unit", ""))
    direction = str(row.figures.get("direction", "over"))
    value, threshold = format_value(row.value, unit), format_value(row.threshold, unit)
    if row.status == FIRING:
        return f"[Beacon][{row.severity.upper()}] {row.metric} {value} {direction} {threshold}"
    back = "under" if direction == "over" else "above"
    return f"[Beacon][RESOLVED] {row.metric} {value} back {back} {threshold}"


def _lines(row: AlertRow) -> list[tuple[str, str]]:
    unit = str(row.figures.get("unit", ""))
    details = row.figures.get("details", {})
    lines = [
        ("check", row.check_name),
        ("status", row.status),
        ("severity", row.severity),
        ("value", format_value(row.value, unit)),
        ("threshold", format_value(row.threshold, unit)),
        ("firing since", str(row.figures.get("firing_since", row.fired_at.isoformat()))),
        ("checked at", row.fired_at.isoformat()),
    ]
    if isinstance(details, dict):
        lines += [(str(key), str(value)) for key, value in details.items()]
    return lines


def build_message(row: AlertRow, settings: Settings) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject(row)
    message["From"] = settings.alert_from
    message["To"] = ", ".join(settings.alert_recipients)
    message["Date"] = format_datetime(row.fired_at)
    # A stable Message-ID lets mail clients fold the rare duplicate (mail accepted, but the
    # warehouse failed to record it) into one.
    message["Message-ID"] = f"<{row.alert_id}@beacon>"
    link = settings.dashboard_url or "(no dashboard link: set BEACON_DASHBOARD_URL)"
    text = [subject(row), ""]
    text += [f"{key}: {value}" for key, value in _lines(row)]
    text += ["", f"Dashboard: {link}", ""]
    message.set_content("\n".join(text))
    cells = "".join(
        f"<tr><th align='left'>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>"
        for key, value in _lines(row)
    )
    anchor = (
        f"<a href='{html.escape(settings.dashboard_url, quote=True)}'>Open the dashboard</a>"
        if settings.dashboard_url
        else html.escape(link)
    )
    message.add_alternative(
        f"<html><body><h2>{html.escape(subject(row))}</h2>"
        f"<table>{cells}</table><p>{anchor}</p></body></html>",
        subtype="html",
    )
    return message


class Mailer:
    def __init__(
        self,
        settings: Settings,
        *,
        attempts: int = 3,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep

    def send(self, message: EmailMessage, recipients: tuple[str, ...] | None = None) -> int:
        """Deliver to every recipient (default: the alert recipients); return the attempts it
        took, or raise MailError."""
        for attempt in range(1, self.attempts + 1):
            try:
                self._send_once(message, recipients or self.settings.alert_recipients)
                return attempt
            except (OSError, smtplib.SMTPException) as exc:
                logger.warning("SMTP attempt %d/%d failed: %s", attempt, self.attempts, exc)
                if attempt == self.attempts:
                    raise MailError(f"SMTP failed {attempt} times: {exc}") from exc
                self.sleep(backoff_delay(attempt, self.backoff_seconds))
        raise MailError("no SMTP attempt was made")  # only when attempts < 1

    def _tls_context(self) -> ssl.SSLContext:
        # The default context verifies the certificate chain and the host name, so the password
        # and the mail never go to an impostor; BEACON_SMTP_CA_FILE only changes whom it trusts.
        return ssl.create_default_context(cafile=self.settings.smtp_ca_file or None)

    def _send_once(self, message: EmailMessage, recipients: tuple[str, ...]) -> None:
        settings = self.settings
        smtp: smtplib.SMTP
        if settings.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=self.timeout_seconds,
                context=self._tls_context(),
            )
        else:
            smtp = smtplib.SMTP(
                settings.smtp_host, settings.smtp_port, timeout=self.timeout_seconds
            )
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=self._tls_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message, from_addr=settings.alert_from, to_addrs=list(recipients))
