"""Admin bearer tokens for the query API: 401 without a token, 403 with a wrong one."""

from __future__ import annotations

from functions.credentials import authorization_parts, match_secret
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
    parts = authorization_parts(authorization)
    if parts is None or parts[0] != "bearer":
        return None
    return parts[1]


def authorise(authorization: str | None, tokens: tuple[str, ...]) -> int | None:
    """None when the request may proceed, else the HTTP status to answer (401 or 403)."""
    token = bearer_token(authorization)
    if token is None:
        return 401
    return None if match_secret(token, dict.fromkeys(tokens, True)) else 403
