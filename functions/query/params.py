"""Validate query-string parameters into plain values; every failure names its field.

Nothing here touches SQL: validated values reach the warehouse only as @parameters. The
patterns are strict anyway, so a hostile value is refused with a 400 before any query runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Property names and event types share the schema's lower-snake-case rule.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_USER_ID_LENGTH = 256
MAX_FUNNEL_STEPS = 8


class ParamError(ValueError):
    """A request parameter is missing or malformed; answered 400 {"error","message","field"}."""

    code = "invalid_parameter"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def reject_unknown(args: Mapping[str, object], allowed: frozenset[str]) -> None:
    """Refuse parameters a report does not read, so a typo never silently means the default."""
    for name in sorted(args):
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise ParamError(name, f"unknown parameter {name!r}; this report takes: {known}")


def integer(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,6}", raw):
        raise ParamError(name, f"{name} must be a whole number from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise ParamError(name, f"{name} must be from {low} to {high}, got {value}")
    return value


def choice(args: Mapping[str, str], name: str, options: tuple[str, ...], default: str) -> str:
    raw = args.get(name) or default
    if raw not in options:
        raise ParamError(name, f"{name} must be one of {', '.join(options)}")
    return raw


def name(args: Mapping[str, str], field: str, *, required: bool, default: str = "") -> str:
    """A property name or event type: ^[a-z][a-z0-9_]{0,63}$."""
    raw = args.get(field) or ""
    if raw == "":
        if required:
            raise ParamError(field, f"{field} is required")
        return default
    if not NAME_PATTERN.fullmatch(raw):
        raise ParamError(field, f"{field} must match {NAME_PATTERN.pattern}")
    return raw


def steps(args: Mapping[str, str], field: str = "steps") -> list[str]:
    """Funnel steps: 2 to 8 distinct event types, comma-separated, in order."""
    raw = args.get(field) or ""
    parts = [part.strip() for part in raw.split(",")] if raw else []
    if not 2 <= len(parts) <= MAX_FUNNEL_STEPS:
        raise ParamError(field, f"{field} must list 2 to {MAX_FUNNEL_STEPS} event types, a,b,c")
    for part in parts:
        if not NAME_PATTERN.fullmatch(part):
            raise ParamError(field, f"each step must match {NAME_PATTERN.pattern}")
    if len(set(parts)) != len(parts):
        raise ParamError(field, f"{field} must not repeat an event type")
    return parts


def user_id(raw: str) -> str:
    """Any text is a possible user id (it is only ever a parameter), within a sane length."""
    if not raw or len(raw) > MAX_USER_ID_LENGTH or any(ord(ch) < 32 for ch in raw):
        raise ParamError(
            "user_id", f"user_id must be 1 to {MAX_USER_ID_LENGTH} printable characters"
        )
    return raw
