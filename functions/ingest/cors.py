"""CORS for browser producers: only configured origins get CORS headers, so others are blocked."""

from __future__ import annotations

import re
from collections.abc import Sequence

ALLOWED_METHODS = "POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding"
_HEADER = re.compile(r"[A-Za-z0-9-]{1,64}")  # a header name; anything else is not echoed
PREFLIGHT_MAX_AGE = "86400"  # browsers cap it lower (Chrome: 2 h); it only saves round trips


def origin_allowed(origin: str | None, allowed_origins: Sequence[str]) -> bool:
    return bool(origin) and ("*" in allowed_origins or origin in allowed_origins)


def cors_headers(origin: str | None, allowed_origins: Sequence[str]) -> dict[str, str]:
    """Headers for an actual (non-preflight) response; empty for an unknown origin."""
    if not origin or not origin_allowed(origin, allowed_origins):
        return {"Vary": "Origin"}
    # Echo the origin even under "*": the response then also works for credentialed requests,
    # and Vary keeps shared caches from serving one origin's answer to another.
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": "Retry-After, X-Request-Id",
        "Vary": "Origin",
    }


def preflight_headers(
    origin: str | None, allowed_origins: Sequence[str], requested: str | None = None
) -> dict[str, str]:
    """REQUESTED: the Access-Control-Request-Headers asked for; SDKs (analytics.js, RudderStack's)
    send headers of their own, which the browser only sends when the preflight allows them."""
    headers = {"Allow": ALLOWED_METHODS, "Vary": "Origin"}
    if origin and origin_allowed(origin, allowed_origins):
        allowed = ALLOWED_HEADERS
        if requested:
            asked = [h.strip() for h in requested.split(",") if _HEADER.fullmatch(h.strip())]
            known = {h.lower() for h in ALLOWED_HEADERS.split(", ")}
            allowed = ", ".join([ALLOWED_HEADERS, *(h for h in asked if h.lower() not in known)])
        headers.update(
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": allowed,
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            }
        )
    return headers
