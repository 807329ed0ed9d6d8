"""The plain environment of each function: the functions.settings variables it reads.

Only non-secret values belong here; the three secrets are wired as secret environment
variables in infra/cloud_functions.py. Each function gets only what it reads, so changing, say,
the alert recipients redeploys alerts and nothing else.
"""

from __future__ import annotations

import pulumi

from infra.config import InfraConfig


def function_environment(
    function: str, config: InfraConfig, dashboard_url: pulumi.Input[str]
) -> dict[str, pulumi.Input[str]]:
    env: dict[str, pulumi.Input[str]] = {
        "BEACON_BACKEND": "gcp",
        "BEACON_GCP_PROJECT": config.project,
        "BEACON_DATASET": config.dataset,
        "BEACON_BIGQUERY_LOCATION": config.bigquery_location,
        "BEACON_TOPIC": config.topic,
        "BEACON_RETENTION_DAYS": str(config.retention_days),
        "BEACON_ROLLUP_RETENTION_DAYS": str(config.rollup_retention_days),
    }
    if function in {"rollup", "query", "alerts"}:
        env["BEACON_REPORTING_CURRENCY"] = config.reporting_currency
    if function in {"ingest", "query"}:
        env["BEACON_ALLOWED_ORIGINS"] = ",".join(config.allowed_origins)
    if function == "ingest":
        # Google's front end appends the client's address to X-Forwarded-For: trust that hop
        # alone, so a client cannot choose the IP that is stored.
        env["BEACON_TRUSTED_PROXIES"] = "1"
    if function == "alerts":
        env |= {
            "BEACON_DASHBOARD_URL": dashboard_url,
            "BEACON_DAILY_BUDGET_USD": str(config.daily_budget_usd),
            "BEACON_ALERT_RECIPIENTS": ",".join(config.alert_recipients),
            "BEACON_ALERT_FROM": config.alert_from,
            "BEACON_SMTP_HOST": config.smtp_host,
            "BEACON_SMTP_PORT": str(config.smtp_port),
            "BEACON_SMTP_USER": config.smtp_user,
            "BEACON_SMTP_SECURITY": config.smtp_security,
        }
    return env
