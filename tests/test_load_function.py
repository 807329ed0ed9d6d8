"""The load CloudEvent function: Pub/Sub push bodies in, DuckDB rows out."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from cloudevents.http import CloudEvent

from functions import runtime
from functions.envelope import Envelope
from functions.load.main import load, message_from_push
from functions.local.duckdb_warehouse import DuckDBWarehouse
from tests.support.serve import serve_function

PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
TOPIC = "//pubsub.googleapis.com/projects/demo/topics/beacon-events"


def push_body(event_ids: list[str], message_id: str) -> dict[str, Any]:
    env = Envelope(
        kind="events",
        source="web",
        request_id=f"req-{message_id}",
        received_at=datetime.now(UTC).isoformat(),
        sent_at=None,
        records=[{"event_id": e, "event_type": "login", "user_id": "u1"} for e in event_ids],
    )
    built = env.to_message()
    return {
        "message": {
            "data": base64.b64encode(built.data).decode(),
            "attributes": dict(built.attributes),
            "messageId": message_id,
            "publishTime": datetime.now(UTC).isoformat(),
        },
        "subscription": "projects/demo/subscriptions/beacon-load",
    }


def stored(data_dir: Path) -> tuple[list[str], list[str]]:
    """(event ids, bad_events reasons) in the DuckDB file, opened after the server stopped."""
    store = DuckDBWarehouse(data_dir / "beacon.duckdb")
    try:
        events = store.query("SELECT event_id FROM events ORDER BY event_id").rows
        bad = store.query("SELECT reason FROM bad_events").rows
    finally:
        store.close()
    return [row["event_id"] for row in events], [row["reason"] for row in bad]


@pytest.fixture()
def local_runtime(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    store = DuckDBWarehouse(tmp_path / "beacon.duckdb")
    store.ensure_tables()
    runtime.use_warehouse(store)
    yield store
    runtime.reset()
    store.close()


def test_message_is_decoded_from_the_push_body() -> None:
    body = push_body(["e1"], "m-42")
    body["deliveryAttempt"] = 3
    decoded = message_from_push(body)
    assert json.loads(decoded.data)["records"][0]["event_id"] == "e1"
    assert decoded.message_id == "m-42"
    assert decoded.attributes["kind"] == "events"
    assert decoded.delivery_attempt == 3


def test_undecodable_push_still_becomes_a_message() -> None:
    assert message_from_push({"message": {"data": "%%% not base64"}}).data == b"%%% not base64"
    assert message_from_push({"unexpected": 1}).data == b'{"unexpected": 1}'


def test_handler_writes_rows_in_process(local_runtime: DuckDBWarehouse) -> None:
    attributes = {"id": "m1", "source": TOPIC, "type": PUBLISHED, "specversion": "1.0"}
    load(CloudEvent(attributes, push_body(["a", "b"], "m1")))
    load(CloudEvent(attributes, push_body(["b"], "m1-redelivered")))
    rows = local_runtime.query("SELECT event_id FROM events ORDER BY event_id").rows
    assert [row["event_id"] for row in rows] == ["a", "b"]


def test_served_function_accepts_binary_structured_and_raw_push(tmp_path: Path) -> None:
    env = {"BEACON_BACKEND": "local", "BEACON_DATA_DIR": str(tmp_path)}
    with serve_function("load", env, signature_type="cloudevent") as url:
        binary = requests.post(
            url,
            json=push_body(["binary-1", "binary-2"], "m1"),
            headers={
                "ce-id": "m1",
                "ce-source": TOPIC,
                "ce-type": PUBLISHED,
                "ce-specversion": "1.0",
            },
            timeout=30,
        )
        structured = requests.post(
            url,
            data=json.dumps(
                {
                    "specversion": "1.0",
                    "id": "m2",
                    "source": TOPIC,
                    "type": PUBLISHED,
                    "datacontenttype": "application/json",
                    "data": push_body(["structured-1", "binary-1"], "m2"),
                }
            ),
            headers={"Content-Type": "application/cloudevents+json"},
            timeout=30,
        )
        # What the Pub/Sub emulator (and a plain push subscription) POSTs: no CloudEvent headers.
        raw = requests.post(url, json=push_body(["raw-1"], "m3"), timeout=30)
        malformed = requests.post(
            url,
            json={"message": {"data": base64.b64encode(b"not an envelope").decode()}},
            headers={
                "ce-id": "m4",
                "ce-source": TOPIC,
                "ce-type": PUBLISHED,
                "ce-specversion": "1.0",
            },
            timeout=30,
        )
    assert [r.status_code for r in (binary, structured, raw, malformed)] == [200] * 4
    event_ids, reasons = stored(tmp_path)
    assert event_ids == ["binary-1", "binary-2", "raw-1", "structured-1"]
    assert reasons == ["malformed_message"]
