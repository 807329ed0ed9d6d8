"""Entry point of the load function: a Pub/Sub push delivered as a CloudEvent.

Returning acknowledges the message; raising (a WarehouseError) makes Pub/Sub redeliver it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import functions_framework
from cloudevents.http import CloudEvent

from functions import runtime
from functions.bus import Message
from functions.load.core import load_messages


def message_from_push(data: Any) -> Message:
    """The bus message inside a Pub/Sub push body ({"message": {...}, "subscription": ...}).

    Anything unreadable still becomes a Message (holding what arrived), so that the load logic
    parks it in bad_events instead of the push being retried forever.
    """
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raw = data.encode() if isinstance(data, str) else data
            return Message(data=raw)
    body = data.get("message") if isinstance(data, Mapping) else None
    if not isinstance(body, Mapping):
        return Message(data=json.dumps(data, default=str).encode())
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        attributes = {}
    encoded = body.get("data") or ""
    try:
        payload = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
    except (binascii.Error, ValueError):
        payload = encoded.encode()
    attempt = data.get("deliveryAttempt") if isinstance(data, Mapping) else None
    return Message(
        data=payload,
        attributes={str(k): str(v) for k, v in attributes.items()},
        message_id=str(body.get("messageId") or body.get("message_id") or ""),
        delivery_attempt=attempt if isinstance(attempt, int) else 1,
    )


@functions_framework.cloud_event
def load(cloud_event: CloudEvent) -> None:
    load_messages([message_from_push(cloud_event.get_data())], runtime.get_warehouse())
