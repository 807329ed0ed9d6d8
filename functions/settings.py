"""Every setting Beacon reads, read once from the environment into one validated object.

Each field names its environment variable; the README's settings table lists the same names.
In the cloud, secrets (write keys, admin tokens, SMTP password) reach these variables from
Secret Manager through the functions' secret environment variables, never as plain values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEV_WRITE_KEY = "dev-write-key-NOT-FOR-PRODUCTION"
DEV_ADMIN_TOKEN = "dev-admin-token-NOT-FOR-PRODUCTION"  # noqa: S105 (local only)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def parse_named_keys(raw: str, variable: str) -> dict[str, str]:
    """Parse `source:key,source2:key2` into {key: source}. A bare `key` names source `default`."""
    keys: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        source, sep, key = item.partition(":")
        if not sep:
            source, key = "default", item
        if not key or not source:
            raise SettingsError(f"{variable}: entry {item!r} must be SOURCE:KEY")
        keys[key] = source
    return keys


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _bounded(value: int, name: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _csv(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    # Where things run: "local" (DuckDB, durable local queue) or "gcp" (BigQuery, Pub/Sub).
    backend: str = "local"  # BEACON_BACKEND
    data_dir: Path = Path(".beacon")  # BEACON_DATA_DIR
    gcp_project: str = ""  # BEACON_GCP_PROJECT (falls back to GOOGLE_CLOUD_PROJECT)
    dataset: str = "beacon"  # BEACON_DATASET
    bigquery_location: str = "US"  # BEACON_BIGQUERY_LOCATION
    # BEACON_BIGQUERY_ENDPOINT: API root of a BigQuery emulator (http://127.0.0.1:9050), reached
    # without credentials; empty (the default, and always in the cloud) means BigQuery itself.
    bigquery_endpoint: str = ""
    gcp_region: str = "us-central1"  # BEACON_GCP_REGION, where the functions and jobs run
    topic: str = "beacon-events"  # BEACON_TOPIC
    # Ingest
    write_keys: Mapping[str, str] = field(default_factory=dict)  # BEACON_WRITE_KEYS: source:key,...
    allowed_origins: tuple[str, ...] = ()  # BEACON_ALLOWED_ORIGINS: comma list, or *
    # BEACON_TRUSTED_PROXIES: how many proxies in front of ingest append to X-Forwarded-For
    # (Google's front end is one, and Pulumi sets 1); 0 takes the peer address.
    trusted_proxies: int = 0
    # BEACON_READ_TIMEOUT_SECONDS: `beacon dev`'s ingest server gives each request this long to
    # arrive whole (in the cloud, Google's front end bounds it).
    read_timeout_seconds: float = 10.0
    # Query and dashboard
    admin_tokens: tuple[str, ...] = ()  # BEACON_ADMIN_TOKENS: comma list
    max_bytes_billed: int = 1_000_000_000  # BEACON_MAX_BYTES_BILLED, per query on BigQuery
    cache_seconds: int = 30  # BEACON_CACHE_SECONDS
    dashboard_url: str = ""  # BEACON_DASHBOARD_URL, linked from alert mails
    # Rollups, retention, privacy
    rollup_trailing_days: int = 3  # BEACON_ROLLUP_TRAILING_DAYS
    reporting_currency: str = "USD"  # BEACON_REPORTING_CURRENCY, the one currency totals add up
    churn_days: int = 30  # BEACON_CHURN_DAYS
    retention_days: int = 400  # BEACON_RETENTION_DAYS, raw events and bad_events
    rollup_retention_days: int = 1825  # BEACON_ROLLUP_RETENTION_DAYS
    # Load
    queue_max_attempts: int = (
        5  # BEACON_QUEUE_MAX_ATTEMPTS, local queue deliveries before dead letter
    )
    # BEACON_QUEUE_MAX_BYTES: the local queue's bound; full, ingest answers 503 with Retry-After.
    queue_max_bytes: int = 1 << 30
    # Alerts
    alert_recipients: tuple[str, ...] = ()  # BEACON_ALERT_RECIPIENTS
    alert_from: str = "beacon@localhost"  # BEACON_ALERT_FROM
    alert_cooldown_minutes: int = 60  # BEACON_ALERT_COOLDOWN_MINUTES
    error_rate_threshold: float = 0.05  # BEACON_ERROR_RATE_THRESHOLD
    error_rate_min_events: int = 100  # BEACON_ERROR_RATE_MIN_EVENTS
    latency_p95_threshold_ms: float = 2000.0  # BEACON_LATENCY_P95_MS
    revenue_drop_threshold: float = 0.20  # BEACON_REVENUE_DROP
    revenue_baseline_weeks: int = 4  # BEACON_REVENUE_BASELINE_WEEKS
    daily_budget_usd: float = 50.0  # BEACON_DAILY_BUDGET_USD
    price_per_tib_usd: float = 6.25  # BEACON_PRICE_PER_TIB_USD
    silence_minutes: int = 30  # BEACON_SILENCE_MINUTES
    working_hours: str = "08-20"  # BEACON_WORKING_HOURS, UTC hours HH-HH
    smtp_host: str = "127.0.0.1"  # BEACON_SMTP_HOST
    smtp_port: int = 1025  # BEACON_SMTP_PORT
    smtp_user: str = ""  # BEACON_SMTP_USER
    smtp_password: str = ""  # BEACON_SMTP_PASSWORD (a secret)
    smtp_security: str = "none"  # BEACON_SMTP_SECURITY: none, starttls or ssl
    # BEACON_SMTP_CA_FILE: PEM file of the CA(s) trusted for the SMTP server's certificate, for a
    # relay with a private CA; empty (the default) means the system trust store.
    smtp_ca_file: str = ""

    @property
    def duckdb_path(self) -> Path:
        return self.data_dir / "beacon.duckdb"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.sqlite3"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        backend = env.get("BEACON_BACKEND", "local").strip() or "local"
        if backend not in {"local", "gcp"}:
            raise SettingsError(f"BEACON_BACKEND must be local or gcp, got {backend!r}")
        smtp_security = env.get("BEACON_SMTP_SECURITY", "none").strip().lower() or "none"
        if smtp_security not in {"none", "starttls", "ssl"}:
            raise SettingsError(
                f"BEACON_SMTP_SECURITY must be none, starttls or ssl, got {smtp_security!r}"
            )
        reporting_currency = env.get("BEACON_REPORTING_CURRENCY", "").strip().upper() or "USD"
        if not (
            len(reporting_currency) == 3
            and reporting_currency.isascii()
            and reporting_currency.isalpha()
        ):
            raise SettingsError(
                f"BEACON_REPORTING_CURRENCY must be an ISO 4217 code, got {reporting_currency!r}"
            )
        return cls(
            backend=backend,
            data_dir=Path(env.get("BEACON_DATA_DIR", "") or ".beacon"),
            gcp_project=env.get("BEACON_GCP_PROJECT", "") or env.get("GOOGLE_CLOUD_PROJECT", ""),
            dataset=env.get("BEACON_DATASET", "") or "beacon",
            bigquery_location=env.get("BEACON_BIGQUERY_LOCATION", "") or "US",
            bigquery_endpoint=env.get("BEACON_BIGQUERY_ENDPOINT", "").strip(),
            gcp_region=env.get("BEACON_GCP_REGION", "") or "us-central1",
            topic=env.get("BEACON_TOPIC", "") or "beacon-events",
            write_keys=parse_named_keys(env.get("BEACON_WRITE_KEYS", ""), "BEACON_WRITE_KEYS"),
            allowed_origins=_csv(env, "BEACON_ALLOWED_ORIGINS"),
            trusted_proxies=_bounded(
                _int(env, "BEACON_TRUSTED_PROXIES", 0), "BEACON_TRUSTED_PROXIES", 0, 10
            ),
            admin_tokens=_csv(env, "BEACON_ADMIN_TOKENS"),
            max_bytes_billed=_int(env, "BEACON_MAX_BYTES_BILLED", 1_000_000_000),
            cache_seconds=_int(env, "BEACON_CACHE_SECONDS", 30),
            dashboard_url=env.get("BEACON_DASHBOARD_URL", ""),
            rollup_trailing_days=_int(env, "BEACON_ROLLUP_TRAILING_DAYS", 3),
            reporting_currency=reporting_currency,
            churn_days=_int(env, "BEACON_CHURN_DAYS", 30),
            retention_days=_int(env, "BEACON_RETENTION_DAYS", 400),
            rollup_retention_days=_int(env, "BEACON_ROLLUP_RETENTION_DAYS", 1825),
            read_timeout_seconds=_float(env, "BEACON_READ_TIMEOUT_SECONDS", 10.0),
            queue_max_attempts=_int(env, "BEACON_QUEUE_MAX_ATTEMPTS", 5),
            queue_max_bytes=_bounded(
                _int(env, "BEACON_QUEUE_MAX_BYTES", 1 << 30),
                "BEACON_QUEUE_MAX_BYTES",
                1 << 20,
                1 << 50,
            ),
            alert_recipients=_csv(env, "BEACON_ALERT_RECIPIENTS"),
            alert_from=env.get("BEACON_ALERT_FROM", "") or "beacon@localhost",
            alert_cooldown_minutes=_int(env, "BEACON_ALERT_COOLDOWN_MINUTES", 60),
            error_rate_threshold=_float(env, "BEACON_ERROR_RATE_THRESHOLD", 0.05),
            error_rate_min_events=_int(env, "BEACON_ERROR_RATE_MIN_EVENTS", 100),
            latency_p95_threshold_ms=_float(env, "BEACON_LATENCY_P95_MS", 2000.0),
            revenue_drop_threshold=_float(env, "BEACON_REVENUE_DROP", 0.20),
            revenue_baseline_weeks=_int(env, "BEACON_REVENUE_BASELINE_WEEKS", 4),
            daily_budget_usd=_float(env, "BEACON_DAILY_BUDGET_USD", 50.0),
            price_per_tib_usd=_float(env, "BEACON_PRICE_PER_TIB_USD", 6.25),
            silence_minutes=_int(env, "BEACON_SILENCE_MINUTES", 30),
            working_hours=env.get("BEACON_WORKING_HOURS", "") or "08-20",
            smtp_host=env.get("BEACON_SMTP_HOST", "") or "127.0.0.1",
            smtp_port=_int(env, "BEACON_SMTP_PORT", 1025),
            smtp_user=env.get("BEACON_SMTP_USER", ""),
            smtp_password=env.get("BEACON_SMTP_PASSWORD", ""),
            smtp_security=smtp_security,
            smtp_ca_file=env.get("BEACON_SMTP_CA_FILE", "").strip(),
        )
