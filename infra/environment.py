"""The plain environment of each function: the settings it reads, from their declaration.

Every setting declared in functions/settings.py with a `read_by` naming the function is set: to
its fixed cloud value (BEACON_BACKEND=gcp), to what Pulumi derives (the dashboard URL), or to
the stack's value of its config key, else its declared default. Secrets are wired as secret
environment variables in infra/cloud_functions.py instead. Each function gets only what it reads,
so changing, say, the alert recipients redeploys alerts and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi

from functions.settings import declarations
from infra.config import InfraConfig


def function_environment(
    function: str, config: InfraConfig, dashboard_url: pulumi.Input[str]
) -> dict[str, pulumi.Input[str]]:
    derived: Mapping[str, pulumi.Input[str]] = {"dashboard_url": dashboard_url}
    env: dict[str, pulumi.Input[str]] = {}
    for name, declared in declarations().items():
        if function not in declared.read_by or declared.secret:
            continue
        if declared.cloud is not None:
            env[declared.env[0]] = declared.cloud
        elif name in derived:
            env[declared.env[0]] = derived[name]
        else:
            env[declared.env[0]] = env_text(getattr(config.app, name))
    return env


def env_text(value: Any) -> str:
    """A setting's value as its variable spells it: comma lists, plain numbers."""
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
