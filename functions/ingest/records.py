"""What ingest publishes: envelopes of accepted events and bad_events rows (sql/tables)."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Sequence
from typing import Any

from functions.bad_events import bad_event_row, event_payload, user_keys
from functions.bus import Message
from functions.envelope import Envelope
from functions.schema import Rejection


def rejection_rows(
    rejections: Sequence[Rejection],
    original: Callable[[int], object],
    *,
    received_at: str,
    source: str,
    request_id: str,
    suspect: bool,
) -> list[dict[str, Any]]:
    return [
        bad_event_row(
            received_at=received_at,
            source=source,
            request_id=request_id,
            reason="invalid_event",
            errors=[error.to_dict() for error in r.errors],
            payload=event_payload(original(r.index), suspect=suspect),
            keys=user_keys(original(r.index)),
            event_index=r.index,
            event_id=r.event_id,
        )
        for r in rejections
    ]


def client_ip(
    forwarded_for: str | None, remote_addr: str | None, trusted_proxies: int
) -> str | None:
    """The client's address: the peer's, or with N trusted proxies in front, the Nth
    X-Forwarded-For hop counted from the right; None when that is not an IP.

    Each proxy appends the address it received the request from, so only the last N hops were
    written by proxies we trust; anything left of them is whatever the client chose to send.
    With fewer hops than proxies the header is not theirs, and the peer address is used.
    """
    if trusted_proxies <= 0:
        return _normal_ip(remote_addr or "")
    hops = [hop.strip() for hop in (forwarded_for or "").split(",")] if forwarded_for else []
    if len(hops) < trusted_proxies:
        return _normal_ip(remote_addr or "")
    return _normal_ip(hops[-trusted_proxies])


@functools.lru_cache(maxsize=4096)
def _normal_ip(candidate: str) -> str | None:
    # Cached: the same few addresses (proxies, returning clients) come back on every request,
    # and parsing one costs more than the rest of the IP handling.
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def fill_ip(records: Sequence[dict[str, Any]], ip: str | None) -> None:
    """Give events without context.ip the request's address (the load function anonymises it)."""
    if ip is None:
        return
    for record in records:
        context = record.get("context")
        if context is None:
            record["context"] = {"ip": ip}
        elif context.get("ip") is None:
            context["ip"] = ip


def messages(
    *,
    source: str,
    request_id: str,
    received_at: str,
    sent_at: str | None,
    accepted: list[dict[str, Any]],
    bad_rows: list[dict[str, Any]],
) -> list[Message]:
    """The request's messages, published in one call so they are stored all or none."""
    out = []
    if accepted:
        out.append(Envelope("events", source, request_id, received_at, sent_at, accepted))
    if bad_rows:
        out.append(Envelope("bad_events", source, request_id, received_at, sent_at, bad_rows))
    # Accepted events passed the schema, and bad_events rows hold text and integers only.
    return [envelope.to_message(schema_checked=True) for envelope in out]
