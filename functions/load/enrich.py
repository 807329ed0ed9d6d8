"""One accepted event record + its envelope → one row of the events table. Pure: no I/O.

The row has exactly the columns of sql/tables/events.sql. Records were validated by ingest, but the
bus may carry anything, so every value is checked again: a record that cannot become a row raises
RecordError and is parked in bad_events instead of failing (and redelivering) the whole message.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from functions.load.useragent import parse_user_agent

IPV4_PREFIX = 24  # keep the network, drop the host: /24 for IPv4
IPV6_PREFIX = 48  # and /48 for IPv6 (a site's allocation)

_TEXT_FIELDS = (
    "user_id",
    "anonymous_id",
    "session_id",
    "platform",
    "app_version",
    "category",
    "currency",
    "error_type",
)
_NUMBER_FIELDS = ("revenue", "duration_ms")
_CONTEXT_FIELDS = ("page_url", "referrer", "user_agent", "locale")


class RecordError(ValueError):
    """A record that cannot become an events row; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def anonymise_ip(value: object) -> str | None:
    """The network part of an address (IPv4 /24, IPv6 /48); None when it is not an address."""
    if not isinstance(value, str):
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:a.b.c.d is an IPv4 client
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def parse_time(value: object, field: str) -> datetime | None:
    """An ISO 8601 time with an offset, as aware UTC; None when absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(field, "must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(field, f"not an ISO 8601 time: {value[:64]!r}") from None
    if parsed.tzinfo is None:
        raise RecordError(field, "has no UTC offset")
    return parsed.astimezone(UTC)


def corrected_time(
    client_time: datetime | None, sent_at: datetime | None, received_at: datetime
) -> datetime:
    """The event time on the server's clock.

    A client whose clock is off by d stamps both the event and the request's sent_at off by d;
    received_at - sent_at is then d plus the (small) network delay, and adding it to the event
    time cancels the skew. Without sent_at the client time is kept; without a client time the
    event happened when it was received, as far as anyone can tell.
    """
    if client_time is None:
        return received_at
    if sent_at is None:
        return client_time
    return client_time + (received_at - sent_at)


def _text(values: Mapping[str, Any], name: str, prefix: str = "") -> str | None:
    value = values.get(name)
    if value is not None and not isinstance(value, str):
        raise RecordError(prefix + name, "must be a string")
    return value


def _number(record: Mapping[str, Any], name: str) -> float | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(name, "must be a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise RecordError(name, "must be finite")
    return float(value)


def event_row(
    record: Mapping[str, Any],
    *,
    source: str,
    received_at: datetime,
    envelope_sent_at: datetime | None,
    loaded_at: datetime,
) -> dict[str, Any]:
    """The events-table row for one record; raises RecordError when it cannot be one."""
    event_id, event_type = record.get("event_id"), record.get("event_type")
    if not isinstance(event_id, str) or not event_id:
        raise RecordError("event_id", "required string")
    if not isinstance(event_type, str) or not event_type:
        raise RecordError("event_type", "required string")
    context = record.get("context") or {}
    if not isinstance(context, Mapping):
        raise RecordError("context", "must be an object")
    properties = record.get("properties")
    if properties is not None and not isinstance(properties, Mapping):
        raise RecordError("properties", "must be an object")
    success = record.get("success")
    if success is not None and not isinstance(success, bool):
        raise RecordError("success", "must be true or false")

    client_time = parse_time(record.get("timestamp"), "timestamp")
    sent_at = parse_time(record.get("sent_at"), "sent_at") or envelope_sent_at
    row: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type,
        "timestamp": corrected_time(client_time, sent_at, received_at),
        "client_timestamp": client_time,
        "sent_at": sent_at,
        "received_at": received_at,
        "loaded_at": loaded_at,
        "source": source,
        "properties": properties,
        "success": success,
        "ip": anonymise_ip(context.get("ip")),
    }
    row.update((name, _text(record, name)) for name in _TEXT_FIELDS)
    row.update((name, _number(record, name)) for name in _NUMBER_FIELDS)
    row.update((name, _text(context, name, "context.")) for name in _CONTEXT_FIELDS)
    agent = row["user_agent"]
    if agent is None:
        row.update(browser=None, os=None, device=None, is_bot=None)
    else:
        parsed = parse_user_agent(agent)
        row.update(browser=parsed.browser, os=parsed.os, device=parsed.device, is_bot=parsed.is_bot)
    return row
