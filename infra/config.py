"""Every `pulumi config` value the program reads, read here once (the README lists them).

Plain values live in Pulumi.<stack>.yaml; the three secrets are set with
`pulumi config set --secret` and reach the functions only through Secret Manager.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class InfraConfig:
    project: str  # gcp:project
    region: str  # gcp:region, where functions, scheduler jobs and the bucket live
    prefix: str  # names every resource: <prefix>-ingest, <prefix>-events, ...
    dataset: str
    bigquery_location: str
    topic: str
    retention_days: int  # raw tables (events, bad_events): partition expiration
    rollup_retention_days: int  # every other table
    daily_budget_usd: float
    billing_account: str | None  # set: a Cloud Billing budget with e-mail notifications
    alert_recipients: tuple[str, ...]
    alert_from: str
    allowed_origins: tuple[str, ...]
    reporting_currency: str  # ISO 4217 code the rollups add money up in
    smtp_host: str
    smtp_port: int
    smtp_user: str
    smtp_security: str
    max_instances: int  # ingest, load and query; rollup and alerts run one at a time
    max_delivery_attempts: int  # Pub/Sub deliveries to load before a message is dead-lettered
    deletion_protection: bool  # tables refuse `pulumi destroy` while true
    write_keys: pulumi.Output[str]  # secret, `source:key,...`
    admin_tokens: pulumi.Output[str]  # secret, comma list
    smtp_password: pulumi.Output[str] | None  # secret; None when the relay needs no password


def _csv(raw: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


def load_config() -> InfraConfig:
    gcp = pulumi.Config("gcp")
    beacon = pulumi.Config()
    max_delivery_attempts = beacon.get_int("maxDeliveryAttempts") or 5
    if not 5 <= max_delivery_attempts <= 100:
        # Pub/Sub's own bounds for a dead-letter policy.
        raise ValueError("maxDeliveryAttempts must be between 5 and 100")
    smtp_security = (beacon.get("smtpSecurity") or "starttls").lower()
    if smtp_security not in {"none", "starttls", "ssl"}:
        raise ValueError("smtpSecurity must be none, starttls or ssl")
    deletion_protection = beacon.get_bool("deletionProtection")
    return InfraConfig(
        project=gcp.require("project"),
        region=gcp.get("region") or "us-central1",
        prefix=beacon.get("prefix") or "beacon",
        dataset=beacon.get("dataset") or "beacon",
        bigquery_location=beacon.get("bigqueryLocation") or "US",
        topic=beacon.get("topic") or "beacon-events",
        retention_days=beacon.get_int("retentionDays") or 400,
        rollup_retention_days=beacon.get_int("rollupRetentionDays") or 1825,
        daily_budget_usd=beacon.get_float("dailyBudgetUsd") or 50.0,
        billing_account=beacon.get("billingAccount") or None,
        alert_recipients=_csv(beacon.get("alertRecipients")),
        alert_from=beacon.get("alertFrom") or "beacon@localhost",
        allowed_origins=_csv(beacon.get("allowedOrigins")),
        reporting_currency=(beacon.get("reportingCurrency") or "USD").upper(),
        smtp_host=beacon.get("smtpHost") or "",
        smtp_port=beacon.get_int("smtpPort") or 587,
        smtp_user=beacon.get("smtpUser") or "",
        smtp_security=smtp_security,
        max_instances=beacon.get_int("maxInstances") or 10,
        max_delivery_attempts=max_delivery_attempts,
        deletion_protection=True if deletion_protection is None else deletion_protection,
        write_keys=beacon.require_secret("writeKeys"),
        admin_tokens=beacon.require_secret("adminTokens"),
        smtp_password=beacon.get_secret("smtpPassword"),
    )
