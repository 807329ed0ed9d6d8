"""Every `pulumi config` value the program reads, read here once (the README lists them).

The keys of the functions' settings, and their defaults and bounds, come from their one
declaration in functions/settings.py: each config key is read into its BEACON_* variable and
validated by `Settings.from_env`, exactly as a function reads it. The keys below that are the
deployment's own (prefix, instances, budget, protection) are read here.

Plain values live in Pulumi.<stack>.yaml; the three secrets are set with
`pulumi config set --secret` and reach the functions only through Secret Manager.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from functions.settings import Settings, SettingsError, declarations


@dataclass(frozen=True)
class InfraConfig:
    """The deployment's own keys; every function setting (dataset, topic, retention, budget,
    recipients, ...) is read from `app`, which holds them once."""

    prefix: str  # names every resource: <prefix>-ingest, <prefix>-events, ...
    billing_account: str | None  # set: a Cloud Billing budget with e-mail notifications
    max_instances: int  # ingest, load and query; rollup and alerts run one at a time
    max_delivery_attempts: int  # Pub/Sub deliveries to load before a message is dead-lettered
    deletion_protection: bool  # tables refuse `pulumi destroy` while true
    write_keys: pulumi.Output[str]  # secret, `source:key,...`
    admin_tokens: pulumi.Output[str]  # secret, comma list
    smtp_password: pulumi.Output[str] | None  # secret; None when the relay needs no password
    app: Settings  # every function setting, from its config key or its declared default

    @property
    def project(self) -> str:  # gcp:project
        return self.app.gcp_project

    @property
    def region(self) -> str:  # gcp:region, where functions, scheduler jobs and the bucket live
        return self.app.gcp_region


def config_key(declared_config: str) -> tuple[str, str]:
    """(namespace, key) of a declaration's config key: `gcp:project`, or `dataset` in beacon."""
    namespace, _, key = declared_config.rpartition(":")
    return namespace or "beacon", key


def app_settings() -> Settings:
    """The functions' settings from the stack's config keys (secrets aside: Secret Manager)."""
    env: dict[str, str] = {}
    keys: dict[str, str] = {}
    for declared in declarations().values():
        if declared.config is None or declared.secret:
            continue
        namespace, key = config_key(declared.config)
        value = pulumi.Config(namespace).get(key)
        if value is not None:
            env[declared.env[0]] = value
            keys[declared.env[0]] = f"{namespace}:{key}"
    try:
        return Settings.from_env(env)
    except SettingsError as exc:
        variable = str(exc).split(":", 1)[0]
        raise ValueError(f"{keys.get(variable, variable)} ({exc})") from None


def load_config() -> InfraConfig:
    beacon = pulumi.Config()
    app = app_settings()
    if not app.gcp_project:
        raise ValueError("gcp:project is required")
    max_delivery_attempts = beacon.get_int("maxDeliveryAttempts") or 5
    if not 5 <= max_delivery_attempts <= 100:
        # Pub/Sub's own bounds for a dead-letter policy.
        raise ValueError("maxDeliveryAttempts must be between 5 and 100")
    deletion_protection = beacon.get_bool("deletionProtection")
    return InfraConfig(
        prefix=beacon.get("prefix") or "beacon",
        billing_account=beacon.get("billingAccount") or None,
        max_instances=beacon.get_int("maxInstances") or 10,
        max_delivery_attempts=max_delivery_attempts,
        deletion_protection=True if deletion_protection is None else deletion_protection,
        write_keys=beacon.require_secret("writeKeys"),
        admin_tokens=beacon.require_secret("adminTokens"),
        smtp_password=beacon.get_secret("smtpPassword"),
        app=app,
    )
