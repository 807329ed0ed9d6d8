"""Checking secrets a request presents (write keys, admin tokens), shared by ingest and query."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def authorization_parts(header: str | None) -> tuple[str, str] | None:
    """(lower-case scheme, value) of an Authorization header; None without a value."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    return (scheme.lower(), value) if value else None


def match_secret(presented: str | None, secrets: Mapping[str, T]) -> T | None:
    """What `secrets` maps the presented secret to, compared in constant time.

    Every secret is compared, with no early exit, so the response time reveals neither how many
    secrets exist nor which one matched or came close.
    """
    if not presented:
        return None
    given = presented.encode("utf-8")
    found: T | None = None
    for secret, value in secrets.items():
        if hmac.compare_digest(given, secret.encode("utf-8")):
            found = value
    return found
