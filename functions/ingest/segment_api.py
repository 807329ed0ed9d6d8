"""Segment's HTTP Tracking API, translated onto Beacon's event schema. Pure: no I/O.

A Segment message (track, page, screen, identify, group, alias) becomes one Beacon event, which
then meets the same schema as every native event (functions/schema.py). docs/segment.md gives
the mapping field by field; SPEC_EVENTS is the table that gives Segment's spec events their
dashboard meaning.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Call = Literal["track", "page", "screen", "identify", "group", "alias"]
CALLS: tuple[Call, ...] = ("track", "page", "screen", "identify", "group", "alias")

# Path -> the call its body is (one message), or "batch" ({"batch": [...]}), or "metrics".
PATHS: dict[str, Call | Literal["batch", "metrics"]] = {
    **{f"/v1/{call}": call for call in CALLS},
    # analytics.js (analytics-next) posts one message per request to one-letter paths.
    "/v1/t": "track",
    "/v1/p": "page",
    "/v1/s": "screen",
    "/v1/i": "identify",
    "/v1/g": "group",
    "/v1/a": "alias",
    "/v1/b": "batch",  # analytics-next's batching delivery
    "/v1/import": "batch",
    "/beacon/v1/batch": "batch",  # RudderStack's sendBeacon transport
    "/v1/m": "metrics",  # analytics-next's own metrics: answered, dropped
}
SEGMENT_MAX_REQUEST_BYTES = 4 * 1024 * 1024  # what RudderStack's SDKs assume; Segment's is 500 KB
SEGMENT_MAX_BATCH_EVENTS = 5000


@dataclass(frozen=True)
class Spec:
    """How a Segment spec event becomes a Beacon conventional event (docs/events.md)."""

    event_type: str
    revenue: tuple[str, ...] = ()  # properties tried in order for the amount
    refund: bool = False  # the amount is money returned: stored negative


# Segment's spec names -> Beacon's conventional events, so every dashboard panel lights up.
SPEC_EVENTS: dict[str, Spec] = {
    "Order Completed": Spec("payment", revenue=("revenue", "total", "value")),
    "Order Refunded": Spec("refund", revenue=("total", "revenue", "value"), refund=True),
    "Products Searched": Spec("search"),
    "Product Reviewed": Spec("review"),
    "Signed Up": Spec("signup"),
    "Signed In": Spec("login"),
}
DEFAULT_CURRENCY = "USD"  # Segment's spec: revenue without a currency is in US dollars
_NAMED_TYPES: dict[str, str] = {"page": "page_view", "screen": "page_view"}
_MAX_TYPE = 64
_NOT_TYPE_CHARACTERS = re.compile(r"[^a-z0-9]+")
# Context fields with a column of their own; every other one is kept in `extra`.
_MAPPED_CONTEXT = frozenset({"ip", "locale", "userAgent", "page", "app"})
_MOBILE = {"ios": "ios", "iphone os": "ios", "ipados": "ios", "android": "android"}
_BROWSER_LIBRARIES = ("analytics.js", "analytics-next", "RudderLabs JavaScript")
_SERVER_LIBRARIES = ("analytics-python", "analytics-node", "@segment/analytics-node", "rudder")


def event_type_for(name: object) -> str:
    """A track name as a Beacon event type: the spec's, else lower snake case."""
    if isinstance(name, str) and name in SPEC_EVENTS:
        return SPEC_EVENTS[name].event_type
    text = name if isinstance(name, str) else ""
    snake = _NOT_TYPE_CHARACTERS.sub("_", text.lower()).strip("_")
    if not snake:
        return "unnamed_event"
    if not snake[0].isalpha():
        snake = f"e_{snake}"
    return snake[:_MAX_TYPE].rstrip("_")


def to_beacon(message: object, call: Call | None, batch_sent_at: object) -> object:
    """The Beacon event for one Segment message; a message that is not an object is returned
    as it is, for the schema to reject."""
    if not isinstance(message, Mapping):
        return message
    kind = call or message.get("type")
    if kind not in CALLS:
        # Not a Segment call: unknown to the schema, so rejected with its reason.
        return {"event_type": "unknown_call", "event_id": message.get("messageId"), "type": kind}
    context = message.get("context")
    context = context if isinstance(context, Mapping) else {}
    properties = _object(message.get("traits") if kind in ("identify", "group") else None)
    if kind not in ("identify", "group", "alias"):
        properties = _object(message.get("properties"))
    event: dict[str, Any] = {"event_type": _event_type(kind, message)}
    _put(event, "event_id", _text(message.get("messageId")))
    _put(event, "user_id", _text(message.get("userId")))
    _put(event, "anonymous_id", _text(message.get("anonymousId")))
    _put(event, "timestamp", message.get("originalTimestamp") or message.get("timestamp"))
    _put(event, "sent_at", message.get("sentAt") or batch_sent_at)
    _put(event, "platform", _platform(message, context))
    app = context.get("app")
    _put(event, "app_version", _text(app.get("version")) if isinstance(app, Mapping) else None)
    if kind == "page":
        _put(event, "category", _text(message.get("category")))
    _put(event, "context", _context(context, properties))
    if properties:
        event["properties"] = properties
    spec = SPEC_EVENTS.get(str(message.get("event"))) if kind == "track" else None
    if spec is not None and spec.revenue:
        _money(event, spec, properties)
    _put(event, "extra", _extra(kind, message, context))
    return event


def _event_type(kind: str, message: Mapping[str, Any]) -> str:
    if kind == "track":
        return event_type_for(message.get("event"))
    return _NAMED_TYPES.get(kind, kind)


def _money(event: dict[str, Any], spec: Spec, properties: Mapping[str, Any]) -> None:
    for name in spec.revenue:
        amount = properties.get(name)
        if (
            isinstance(amount, int | float)
            and not isinstance(amount, bool)
            and math.isfinite(amount)
        ):
            event["revenue"] = -abs(amount) if spec.refund else amount
            currency = properties.get("currency")
            event["currency"] = (
                currency.upper() if isinstance(currency, str) and currency else DEFAULT_CURRENCY
            )
            return


def _context(context: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    page = context.get("page")
    page = page if isinstance(page, Mapping) else {}
    mapped: dict[str, Any] = {}
    _put(mapped, "page_url", _text(page.get("url")) or _text(properties.get("url")))
    _put(mapped, "referrer", _text(page.get("referrer")) or _text(properties.get("referrer")))
    _put(mapped, "user_agent", _text(context.get("userAgent")))
    _put(mapped, "locale", _text(context.get("locale")))
    ip = context.get("ip")
    if isinstance(ip, str) and _is_ip(ip):
        mapped["ip"] = ip
    return mapped


def _extra(kind: str, message: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """What has no column of its own: the call, the original name, group and alias ids, and
    every context field Beacon does not map (SDKs add fields over time; none is refused)."""
    extra: dict[str, Any] = {"segment_call": kind}
    for source, target in (
        ("event", "segment_event"),
        ("name", "name"),
        ("groupId", "group_id"),
        ("previousId", "previous_id"),
        ("channel", "channel"),
    ):
        if message.get(source) not in (None, ""):
            extra[target] = message[source]
    rest = {k: v for k, v in context.items() if k not in _MAPPED_CONTEXT}
    if rest:
        extra["context"] = rest
    if kind not in ("identify", "group") and isinstance(message.get("traits"), Mapping):
        extra["traits"] = message["traits"]
    safe: dict[str, Any] = json_safe(extra)
    return safe


def json_safe(value: Any, depth: int = 0) -> Any:
    """VALUE with what a JSON column cannot hold left out (non-finite numbers, integers beyond
    64 bits, nesting past 8 levels), so extra data never costs an event."""
    if isinstance(value, Mapping):
        if depth >= 7:
            return None
        kept = {str(k): (v, json_safe(v, depth + 1)) for k, v in value.items()}
        return {k: safe for k, (v, safe) in kept.items() if safe is not None or v is None}
    if isinstance(value, list):
        if depth >= 7:
            return None
        return [json_safe(item, depth + 1) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return None


def _platform(message: Mapping[str, Any], context: Mapping[str, Any]) -> str | None:
    os_info = context.get("os")
    os_name = os_info.get("name") if isinstance(os_info, Mapping) else None
    if isinstance(os_name, str) and os_name.lower() in _MOBILE:
        return _MOBILE[os_name.lower()]
    library = context.get("library")
    library_name = library.get("name") if isinstance(library, Mapping) else None
    channel = message.get("channel")
    name = library_name if isinstance(library_name, str) else ""
    if channel == "browser" or name.startswith(_BROWSER_LIBRARIES):
        return "web"
    if channel == "server" or name.startswith(_SERVER_LIBRARIES):
        return "server"
    return None


def _object(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    """An id or label: a non-empty string, or a number written as one; empty strings are absent."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _put(target: dict[str, Any], name: str, value: object) -> None:
    if value is not None and value != {}:
        target[name] = value


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
