"""One accepted event record + its envelope → one row of the events table. Pure: no I/O.

The row has exactly the columns of sql/tables/events.sql. Records were validated by ingest, but the
bus may carry anything, so every value is checked again: the types as the record is read
(functions/load/record.py), the rest here. A record that cannot become a row raises RecordError
and is parked in bad_events instead of failing (and redelivering) the whole message.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from functions.load.record import Context, EventRecord, RecordError
from functions.load.useragent import parse_user_agent

IPV4_PREFIX = 24  # keep the network, drop the host: /24 for IPv4
IPV6_PREFIX = 48  # and /48 for IPv6 (a site's allocation)


def anonymise_ip(value: object) -> str | None:
    """The network part of an address (IPv4 /24, IPv6 /48); None when it is not an address."""
    if not isinstance(value, str):
        return None
    return _network_of(value)


@lru_cache(maxsize=16384)  # a visitor sends many events from one address: parse it once
def _network_of(text: str) -> str | None:
    text = text.strip()
    parts = text.split(".")
    # Plain dotted IPv4 without the ipaddress module (about 10 times faster), accepting exactly
    # what ip_address accepts: 4 ASCII decimal octets up to 255, no leading zeros. With no
    # leading zeros an octet's text is its canonical form, so the network prints as a.b.c.0.
    if len(parts) == 4 and all(
        part.isascii()
        and part.isdigit()
        and len(part) <= 3
        and (part == "0" or part[0] != "0")
        and int(part) <= 255
        for part in parts
    ):
        return f"{parts[0]}.{parts[1]}.{parts[2]}.0"
    try:
        address = ipaddress.ip_address(text)
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
    tzinfo = parsed.tzinfo
    if tzinfo is UTC:  # what ingest writes ("+00:00" and "Z" parse to this very object)
        return parsed
    if tzinfo is None:
        raise RecordError(field, "has no UTC offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is in the year 10000 in UTC
        raise RecordError(field, "in UTC it falls outside the years 0001 to 9999") from None


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
    try:
        return client_time + (received_at - sent_at)
    except OverflowError:  # a client clock near year 1 or 9999: no real time to correct to
        raise RecordError(
            "timestamp", "the clock-skew correction leaves the datetime range"
        ) from None


def _number(value: float, name: str) -> float:
    try:
        number = float(value)  # a JSON integer may be too large for a float
    except OverflowError:
        raise RecordError(name, "is too large") from None
    if not math.isfinite(number):
        raise RecordError(name, "must be finite")
    return number


@lru_cache(maxsize=4096)  # same bound as parse_user_agent's: a site sees few distinct agents
def _agent_columns(agent: str) -> tuple[str, str, str, bool]:
    parsed = parse_user_agent(agent)
    return parsed.browser, parsed.os, parsed.device, parsed.is_bot


_NO_AGENT = (None, None, None, None)
_NO_CONTEXT = Context()


def event_row(
    record: EventRecord,
    *,
    source: str,
    received_at: datetime,
    envelope_sent_at: datetime | None,
    loaded_at: datetime,
) -> dict[str, Any]:
    """The events-table row for one record; raises RecordError when it cannot be one.

    The checks run in the order that decides which field an error names.
    """
    event_id, event_type = record.event_id, record.event_type
    if not event_id:
        raise RecordError("event_id", "required string")
    if not event_type:
        raise RecordError("event_type", "required string")
    client_time = parse_time(record.timestamp, "timestamp")
    sent_at = parse_time(record.sent_at, "sent_at") or envelope_sent_at
    revenue, duration_ms = record.revenue, record.duration_ms
    if revenue is not None:
        revenue = _number(revenue, "revenue")
    if duration_ms is not None:
        duration_ms = _number(duration_ms, "duration_ms")
    context = record.context or _NO_CONTEXT
    agent = context.user_agent
    browser, system, device, is_bot = _NO_AGENT if agent is None else _agent_columns(agent)
    # In the table's column order (sql/tables/events.sql), which is also the JSON key order.
    return {
        "event_id": event_id,
        "event_type": event_type,
        "timestamp": corrected_time(client_time, sent_at, received_at),
        "client_timestamp": client_time,
        "sent_at": sent_at,
        "received_at": received_at,
        "loaded_at": loaded_at,
        "source": source,
        "user_id": record.user_id,
        "anonymous_id": record.anonymous_id,
        "session_id": record.session_id,
        "platform": record.platform,
        "app_version": record.app_version,
        "category": record.category,
        "properties": record.properties,
        "page_url": context.page_url,
        "referrer": context.referrer,
        "user_agent": agent,
        "locale": context.locale,
        "ip": anonymise_ip(context.ip),
        "browser": browser,
        "os": system,
        "device": device,
        "is_bot": is_bot,
        "revenue": revenue,
        "currency": record.currency,
        "duration_ms": duration_ms,
        "success": record.success,
        "error_type": record.error_type,
        "extra": record.extra,
    }
