"""What the Flask extension and the WSGI middleware share: sampling, exclusions, route names."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

# A path segment that is an id, not part of the route: numbers, UUIDs, long hex or base64ish.
_ID_SEGMENT = re.compile(
    r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{16,}|[A-Za-z0-9_-]{24,})$"
)
DEFAULT_EXCLUDE = ("/healthz", "/health", "/favicon.ico")


def route_template(path: str) -> str:
    """`/orders/12345/items/9f1c...` -> `/orders/{id}/items/{id}`: a route, not one user's URL."""
    return "/".join("{id}" if _ID_SEGMENT.match(part) else part for part in path.split("/"))


def sampled(rate: float) -> bool:
    return rate >= 1.0 or random.random() < rate


def excluded(path: str, exclude: Iterable[str]) -> bool:
    return any(path == prefix or path.startswith(prefix.rstrip("/") + "/") for prefix in exclude)
