"""Admin bearer tokens for the query API: 401 without a token, 403 with a wrong one."""

from __future__ import annotations

import hmac

from functions.settings import DEV_ADMIN_TOKEN, Settings


def accepted_tokens(settings: Settings) -> tuple[str, ...]:
    """The configured tokens; locally, with none configured, the well-known development token.

    In the cloud an empty list locks the API (every request is 403), never opens it.
    """
    if settings.admin_tokens:
        return settings.admin_tokens
    return (DEV_ADMIN_TOKEN,) if settings.backend == "local" else ()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header, or None when there is none."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def authorise(authorization: str | None, tokens: tuple[str, ...]) -> int | None:
    """None when the request may proceed, else the HTTP status to answer (401 or 403)."""
    token = bearer_token(authorization)
    if token is None:
        return 401
    presented = token.encode("utf-8")
    # Compare against every token without stopping early, so timing reveals neither which
    # token matched nor how much of one did.
    matched = False
    for candidate in tokens:
        matched |= hmac.compare_digest(presented, candidate.encode("utf-8"))
    return None if matched else 403
