"""Every setting Beacon reads, declared once: variable, type, default, bounds, description, and
where it comes from in the cloud.

Each field of `Settings` is one setting. Its `setting(...)` declaration says:
- `env`: the environment variable(s) it is read from (the first is its name; BEACON_<FIELD> when
  not given);
- `read_by`: the cloud functions that read it, so the Pulumi program sets it on exactly those
  (infra/environment.py); empty for a setting of the local pipeline only;
- `config`: the `pulumi config` key it comes from (`beacon:<key>`), or `cloud`: the fixed value
  it has in the cloud; `secret`: it reaches the functions from Secret Manager.

`Settings.from_env` reads them once into one validated, frozen object; pydantic does the parsing
and the bounds. (pydantic-settings' BaseSettings was tried: it reads os.environ whenever a
Settings is built, also `Settings(churn_days=30)` in a test or in the dev server's in-process
functions; reading a given mapping once is what Beacon needs.) The README's settings table is
`settings_table()`, and a test keeps the two equal.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass
from pydantic.fields import FieldInfo

DEV_WRITE_KEY = "dev-write-key-NOT-FOR-PRODUCTION"
DEV_ADMIN_TOKEN = "dev-admin-token-NOT-FOR-PRODUCTION"  # noqa: S105 (local only)
ALL_FUNCTIONS = ("ingest", "load", "query", "rollup", "alerts")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def parse_named_keys(raw: str) -> dict[str, str]:
    """Parse `source:key,source2:key2` into {key: source}. A bare `key` names source `default`.

    A malformed entry is refused without echoing it: it holds a secret.
    """
    keys: dict[str, str] = {}
    for number, item in enumerate(filter(None, (part.strip() for part in raw.split(","))), 1):
        source, sep, key = item.partition(":")
        if not sep:
            source, key = "default", item
        if not key or not source:
            raise ValueError(f"entry {number} must be SOURCE:KEY")
        keys[key] = source
    return keys


def _csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _named_keys(value: object) -> object:
    return parse_named_keys(value) if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


Csv = Annotated[tuple[str, ...], BeforeValidator(_csv)]
NamedKeys = Annotated[Mapping[str, str], BeforeValidator(_named_keys)]


def setting(
    default: Any = None,
    description: str = "",
    *,
    env: tuple[str, ...] = (),
    read_by: tuple[str, ...] = (),
    config: str | None = None,
    cloud: str | None = None,
    derived: str | None = None,
    secret: bool = False,
    default_factory: Any = None,
    shown_default: str | None = None,
    **bounds: Any,
) -> Any:
    """One setting's declaration (see the module docstring)."""
    extra: Any = {
        "env": list(env),
        "read_by": list(read_by),
        "config": config,
        "cloud": cloud,
        "derived": derived,
        "secret": secret,
        "shown_default": shown_default,
    }
    if default_factory is not None:
        return Field(
            default_factory=default_factory,
            description=description,
            json_schema_extra=extra,
            **bounds,
        )
    return Field(default, description=description, json_schema_extra=extra, **bounds)


_SERVED = ("ingest", "query", "rollup", "alerts", "load")
_WAREHOUSE = ("load", "query", "rollup", "alerts")


@dataclass(frozen=True)
class Settings:
    backend: Annotated[Literal["local", "gcp"], BeforeValidator(_lower)] = setting(
        "local",
        "`local` (DuckDB, SQLite queue) or `gcp` (BigQuery, Pub/Sub)",
        read_by=ALL_FUNCTIONS,
        cloud="gcp",
    )
    data_dir: Path = setting(
        Path(".beacon"), "local data: `beacon.duckdb`, `queue.sqlite3`, `logs/`, `mail/`"
    )
    duckdb_memory_limit: str = setting(
        "4GB",
        "DuckDB's memory limit; past it joins, sorts and groupings spill to `beacon.duckdb.tmp/`",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
    )
    gcp_project: str = setting(
        "",
        "Google Cloud project",
        env=("BEACON_GCP_PROJECT", "GOOGLE_CLOUD_PROJECT"),
        read_by=ALL_FUNCTIONS,
        config="gcp:project",
        shown_default="`GOOGLE_CLOUD_PROJECT`",
    )
    gcp_region: str = setting(
        "us-central1",
        "region of the functions and Cloud Scheduler jobs (`beacon jobs run` on gcp)",
        config="gcp:region",
    )
    dataset: str = setting("beacon", "BigQuery dataset", read_by=ALL_FUNCTIONS, config="dataset")
    bigquery_location: str = setting(
        "US", "BigQuery location", read_by=ALL_FUNCTIONS, config="bigqueryLocation"
    )
    bigquery_endpoint: str = setting(
        "",
        "API root of a BigQuery emulator, reached without credentials (tests; never set in the "
        "cloud)",
        shown_default="(none: BigQuery itself)",
    )
    bigquery_write_endpoint: str = setting(
        "",
        "host:port of a BigQuery emulator's gRPC server, for the Storage Write API the load "
        "function appends rows through (tests; never set in the cloud)",
        shown_default="(none: BigQuery itself)",
    )
    topic: str = setting(
        "beacon-events",
        "Pub/Sub topic; the dead-letter topic is `<topic>-dead-letter`",
        read_by=ALL_FUNCTIONS,
        config="topic",
    )
    # Ingest
    write_keys: NamedKeys = setting(
        description="ingest keys, `source:key,source2:key2` (a bare key is source `default`)",
        default_factory=dict,
        read_by=("ingest",),
        config="writeKeys",
        secret=True,
        shown_default="(none)",
    )
    allowed_origins: Csv = setting(
        (),
        "CORS origins for browsers, comma list or `*`",
        read_by=("ingest", "query"),
        config="allowedOrigins",
        shown_default="(none)",
    )
    trusted_proxies: int = setting(
        0,
        "proxies in front of ingest that append to `X-Forwarded-For`; the client IP is that "
        "many hops from the right, `0` takes the peer address",
        read_by=("ingest",),
        cloud="1",
        ge=0,
        le=10,
    )
    read_timeout_seconds: float = setting(
        10.0, "`beacon dev`'s ingest: seconds a request has to arrive whole", gt=0, le=3600
    )
    # Query and dashboard
    admin_tokens: Csv = setting(
        (),
        "dashboard and query tokens, comma list",
        read_by=("query",),
        config="adminTokens",
        secret=True,
        shown_default="(none)",
    )
    max_bytes_billed: int = setting(
        1_000_000_000,
        "per-query BigQuery byte cap",
        read_by=("query",),
        config="maxBytesBilled",
        ge=1,
    )
    cache_seconds: int = setting(
        30, "query response cache", read_by=("query",), config="cacheSeconds", ge=0
    )
    dashboard_url: str = setting(
        "",
        "linked from alert mails",
        read_by=("alerts",),
        derived="the query function's URL",
        shown_default="(none; `beacon dev`: its dashboard)",
    )
    # Rollups, retention, privacy
    rollup_trailing_days: int = setting(
        3,
        "days the nightly rollup recomputes (late events)",
        read_by=("rollup",),
        config="rollupTrailingDays",
        ge=1,
        le=400,
    )
    reporting_currency: Annotated[str, BeforeValidator(_upper)] = setting(
        "USD",
        "the currency daily totals add up (ISO 4217)",
        read_by=("rollup", "query", "alerts"),
        config="reportingCurrency",
        pattern=r"^[A-Z]{3}$",
    )
    churn_days: int = setting(
        30,
        "days without events before a user counts as churned",
        read_by=("rollup",),
        config="churnDays",
        ge=1,
        le=365,
    )
    retention_days: int = setting(
        400,
        "raw `events` and `bad_events` kept (Pulumi: their partition expiration)",
        read_by=ALL_FUNCTIONS,
        config="retentionDays",
        ge=1,
    )
    rollup_retention_days: int = setting(
        1825,
        "rollup and log rows kept (Pulumi: their partition expiration)",
        read_by=ALL_FUNCTIONS,
        config="rollupRetentionDays",
        ge=1,
    )
    # Load
    queue_max_attempts: int = setting(
        5, "local queue deliveries before a message is dead-lettered", ge=1
    )
    queue_max_bytes: int = setting(
        1 << 30,
        "the local queue's bound; when full, ingest answers `503` with `Retry-After`",
        ge=1 << 20,
        le=1 << 50,
    )
    # Alerts
    alert_recipients: Csv = setting(
        (),
        "alert mail recipients, comma list",
        read_by=("alerts",),
        config="alertRecipients",
        shown_default="(none; `beacon dev`: `dev@localhost`)",
    )
    report_recipients: Csv = setting(
        (),
        "weekly report recipients, comma list",
        read_by=("alerts",),
        config="reportRecipients",
        shown_default="(none: the alert recipients)",
    )
    report_funnel: Csv = setting(
        ("signup", "search", "payment"),
        "the weekly report's funnel steps, comma list",
        shown_default="`signup,search,payment`",
        read_by=("alerts",),
        config="reportFunnel",
    )
    alert_from: str = setting(
        "beacon@localhost", "alert mail sender", read_by=("alerts",), config="alertFrom"
    )
    alert_cooldown_minutes: int = setting(
        60,
        "minimum gap between reminders of one alert",
        read_by=("alerts",),
        config="alertCooldownMinutes",
        ge=0,
    )
    error_rate_threshold: float = setting(
        0.05,
        "error events / events in the last hour",
        read_by=("alerts",),
        config="errorRateThreshold",
        gt=0,
        le=1,
    )
    error_rate_min_events: int = setting(
        100,
        "events needed before the error rate is judged",
        read_by=("alerts",),
        config="errorRateMinEvents",
        ge=1,
    )
    latency_p95_threshold_ms: float = setting(
        2000.0,
        "p95 of `api_call` `duration_ms` in the last hour",
        env=("BEACON_LATENCY_P95_MS",),
        read_by=("alerts",),
        config="latencyP95Ms",
        gt=0,
    )
    revenue_drop_threshold: float = setting(
        0.20,
        "drop against the same hours of previous weeks",
        env=("BEACON_REVENUE_DROP",),
        read_by=("alerts",),
        config="revenueDrop",
        gt=0,
        lt=1,
    )
    revenue_baseline_weeks: int = setting(
        4,
        "weeks in that baseline",
        read_by=("alerts",),
        config="revenueBaselineWeeks",
        ge=1,
        le=52,
    )
    daily_budget_usd: float = setting(
        50.0,
        "BigQuery spend per 24 h before the cost alert (times 30.4: the monthly billing budget)",
        read_by=("alerts",),
        config="dailyBudgetUsd",
        gt=0,
    )
    price_per_tib_usd: float = setting(
        6.25,
        "on-demand price used for that spend",
        read_by=("alerts",),
        config="pricePerTibUsd",
        gt=0,
    )
    silence_minutes: int = setting(
        30,
        "minutes without any event received (in working hours) before `silence` fires",
        read_by=("alerts",),
        config="silenceMinutes",
        ge=1,
    )
    working_hours: str = setting(
        "08-20",
        "UTC hours `HH-HH` when silence is judged (end exclusive; `22-06` wraps midnight, "
        "`00-24` is all day)",
        read_by=("alerts",),
        config="workingHours",
        pattern=r"^\d{2}-\d{2}$",
    )
    smtp_host: str = setting("127.0.0.1", "SMTP server", read_by=("alerts",), config="smtpHost")
    smtp_port: int = setting(
        587,
        "SMTP port (`beacon dev`: its SMTP sink's, `--smtp-port`)",
        read_by=("alerts",),
        config="smtpPort",
        ge=1,
        le=65535,
    )
    smtp_user: str = setting(
        "", "SMTP login", read_by=("alerts",), config="smtpUser", shown_default="(none)"
    )
    smtp_password: str = setting(
        "",
        "SMTP password",
        read_by=("alerts",),
        config="smtpPassword",
        secret=True,
        shown_default="(none)",
    )
    smtp_security: Annotated[Literal["none", "starttls", "ssl"], BeforeValidator(_lower)] = setting(
        "starttls",
        "`none`, `starttls` or `ssl` (`beacon dev`: `none`, its sink speaks plain SMTP)",
        read_by=("alerts",),
        config="smtpSecurity",
    )
    smtp_ca_file: str = setting(
        "",
        "PEM file of the CA(s) trusted for the SMTP server's certificate with `starttls` or "
        "`ssl`; the certificate and host name are always verified",
        read_by=("alerts",),
        shown_default="(none: the system trust store)",
    )

    @property
    def duckdb_path(self) -> Path:
        return self.data_dir / "beacon.duckdb"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.sqlite3"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from ENV (default os.environ); an empty variable is unset."""
        env = os.environ if env is None else env
        values: dict[str, str] = {}
        for name, declared in declarations().items():
            for variable in declared.env:
                raw = env.get(variable, "")
                if raw.strip():
                    values[name] = raw.strip()
                    break
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise SettingsError(_explain(exc, values)) from None


@dataclass(frozen=True)
class Declared:
    """What `setting(...)` said of one field, for the README, Pulumi and the reader."""

    name: str
    env: tuple[str, ...]
    read_by: tuple[str, ...]
    config: str | None
    cloud: str | None  # the value every cloud function gets, fixed
    derived: str | None  # how Pulumi computes the value it sets
    secret: bool
    default: str  # as the README shows it
    description: str


def declarations() -> dict[str, Declared]:
    return _DECLARATIONS


def _declared(name: str, info: FieldInfo) -> Declared:
    extra: Any = info.json_schema_extra or {}
    env = tuple(extra["env"]) or (f"BEACON_{name.upper()}",)
    if extra["shown_default"] is not None:
        shown = extra["shown_default"]
    else:
        default = info.get_default(call_default_factory=True)
        shown = f"`{default}`" if default not in ("", ()) else "(none)"
    return Declared(
        name=name,
        env=env,
        read_by=tuple(extra["read_by"]),
        config=extra["config"],
        cloud=extra["cloud"],
        derived=extra["derived"],
        secret=bool(extra["secret"]),
        default=shown,
        description=info.description or "",
    )


_DECLARATIONS: dict[str, Declared] = {
    name: _declared(name, info)
    for name, info in Settings.__pydantic_fields__.items()  # type: ignore[attr-defined]
}


def _explain(exc: ValidationError, values: Mapping[str, str]) -> str:
    """The first problem, named by its variable: 'BEACON_CHURN_DAYS must be ...'."""
    error = exc.errors(include_url=False)[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    declared = _DECLARATIONS.get(name)
    variable = declared.env[0] if declared else name
    given = values.get(name)
    secret = declared is not None and declared.secret
    shown = f", got {given!r}" if given is not None and not secret else ""
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return f"{variable}: {message}{shown}"


_BOOL = TypeAdapter(bool)


def env_flag(env: Mapping[str, str], variable: str) -> bool:
    """A yes/no variable of the command line (BEACON_NO_DEMO=1): pydantic's booleans (1, 0,
    true, false, yes, no, on, off), unset or empty is no."""
    raw = env.get(variable, "").strip()
    if not raw:
        return False
    try:
        return _BOOL.validate_python(raw)
    except ValidationError:
        raise SettingsError(
            f"{variable} must be true or false (1/0, yes/no), got {raw!r}"
        ) from None


def settings_table() -> str:
    """The README's settings table, made from the declarations."""
    lines = [
        "| variable | default | Pulumi key | read in the cloud by | meaning |",
        "|---|---|---|---|---|",
    ]
    for declared in _DECLARATIONS.values():
        if declared.cloud is not None:
            key = f"(always `{declared.cloud}`)"
        elif declared.derived is not None:
            key = f"({declared.derived})"
        elif declared.config is None:
            key = "—"
        else:
            config = declared.config if ":" in declared.config else f"beacon:{declared.config}"
            key = f"`{config}`" + (" (secret)" if declared.secret else "")
        readers = "all" if declared.read_by == ALL_FUNCTIONS else ", ".join(declared.read_by)
        variable = " or ".join(f"`{v}`" for v in declared.env)
        lines.append(
            f"| {variable} | {declared.default} | {key} | {readers or '—'} "
            f"| {declared.description} |"
        )
    return "\n".join(lines) + "\n"
