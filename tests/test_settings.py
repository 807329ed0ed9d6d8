"""Settings are declared once: read from the environment with their bounds, named by their
variable when wrong, never echoing a secret; the same declarations feed Pulumi and the README."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from functions.settings import Settings, SettingsError, declarations, env_flag


def test_defaults_when_nothing_is_set() -> None:
    settings = Settings.from_env({})
    assert settings.backend == "local" and settings.data_dir == Path(".beacon")
    assert settings.smtp_security == "starttls" and settings.smtp_port == 587
    assert settings.queue_max_bytes == 1 << 30 and settings.trusted_proxies == 0


def test_values_are_parsed_by_type() -> None:
    settings = Settings.from_env(
        {
            "BEACON_CHURN_DAYS": "7",
            "BEACON_ERROR_RATE_THRESHOLD": "0.1",
            "BEACON_WRITE_KEYS": "web:k1, k2",
            "BEACON_ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "BEACON_REPORTING_CURRENCY": " eur ",
            "BEACON_SMTP_SECURITY": "SSL",
            "BEACON_DATA_DIR": "/tmp/beacon",
        }
    )
    assert settings.churn_days == 7 and settings.error_rate_threshold == 0.1
    assert settings.write_keys == {"k1": "web", "k2": "default"}
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.reporting_currency == "EUR" and settings.smtp_security == "ssl"
    assert settings.data_dir == Path("/tmp/beacon")


def test_an_empty_variable_is_unset_and_google_cloud_project_is_the_fallback() -> None:
    assert Settings.from_env({"BEACON_CHURN_DAYS": ""}).churn_days == 30
    assert Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p1"}).gcp_project == "p1"
    both = {"GOOGLE_CLOUD_PROJECT": "p1", "BEACON_GCP_PROJECT": "p2"}
    assert Settings.from_env(both).gcp_project == "p2"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BEACON_CHURN_DAYS": "soon"}, "BEACON_CHURN_DAYS: Input should be a valid integer"),
        ({"BEACON_CHURN_DAYS": "0"}, "BEACON_CHURN_DAYS: Input should be greater than"),
        ({"BEACON_BACKEND": "aws"}, "BEACON_BACKEND: Input should be 'local' or 'gcp'"),
        ({"BEACON_REPORTING_CURRENCY": "EURO"}, "BEACON_REPORTING_CURRENCY: String should match"),
        ({"BEACON_REVENUE_DROP": "1.5"}, "BEACON_REVENUE_DROP: Input should be less than 1"),
        ({"BEACON_TRUSTED_PROXIES": "11"}, "BEACON_TRUSTED_PROXIES: Input should be less"),
        ({"BEACON_QUEUE_MAX_BYTES": "10"}, "BEACON_QUEUE_MAX_BYTES: Input should be greater"),
    ],
)
def test_a_bad_value_names_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_a_malformed_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"BEACON_WRITE_KEYS": "web:s3cret-key,broken:"})
    assert "BEACON_WRITE_KEYS" in str(raised.value)
    assert "s3cret" not in str(raised.value) and "broken" not in str(raised.value)


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("yes", True), ("no", False), ("0", False), ("", False)]
)
def test_command_line_flags_read_booleans_as_settings_do(raw: str, expected: bool) -> None:
    assert env_flag({"BEACON_NO_DEMO": raw}, "BEACON_NO_DEMO") is expected


def test_a_flag_that_is_not_a_boolean_is_refused() -> None:
    with pytest.raises(SettingsError, match="BEACON_NO_DEMO"):
        env_flag({"BEACON_NO_DEMO": "maybe"}, "BEACON_NO_DEMO")


def test_settings_are_frozen_and_replace_revalidates() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.churn_days = 5  # type: ignore[misc]
    assert dataclasses.replace(settings, churn_days=5).churn_days == 5
    with pytest.raises(ValueError):
        dataclasses.replace(settings, churn_days=-1)


def test_every_variable_and_config_key_is_declared_once() -> None:
    variables = [v for d in declarations().values() for v in d.env]
    assert len(variables) == len(set(variables))
    keys = [d.config for d in declarations().values() if d.config]
    assert len(keys) == len(set(keys))
    for declared in declarations().values():
        assert declared.description, declared.name
        assert set(declared.read_by) <= {"ingest", "load", "query", "rollup", "alerts"}
