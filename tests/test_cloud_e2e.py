"""The cloud pipeline end to end, with the real client libraries on real emulators.

ingest (functions-framework, BEACON_BACKEND=gcp) publishes to Google's Pub/Sub emulator; a push
subscription there POSTs each message to the load function (functions-framework, CloudEvent
signature), which appends rows through the Storage Write API (google-cloud-bigquery-storage, over
gRPC) to the bqemulator BigQuery emulator and queries it through google-cloud-bigquery. What
differs from the cloud: no IAM, no OIDC token on the push, and no streaming buffer (BigQuery's
rule against DML on rows insertAll wrote lately, which the Storage Write API does not have, and
the emulator does not emulate); row errors are tested at the wire level (test_storage_write.py).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import google.cloud.pubsub_v1 as pubsub_v1
import pytest
import requests
from google.cloud import bigquery

from functions.rollup import gdpr
from functions.rollup.gdpr import delete_user, export_user
from functions.settings import Settings
from functions.warehouse.bigquery import BigQueryWarehouse
from tests.support.bqemulator import PROJECT
from tests.support.serve import serve_function

if TYPE_CHECKING:
    # Only for the annotation: importing the plugin module before pytest registers it would
    # keep pytest from rewriting its asserts (and make it warn).
    from tests.support.pubsub_emulator import RunningEmulator

# Session fixtures registered as plugins, so every module shares one emulator of each kind.
pytest_plugins = ["tests.support.pubsub_emulator", "tests.support.bqemulator"]

WRITE_KEY = "e2e-web-key"
DEADLINE_SECONDS = 60.0  # generous: the bound on waiting for the push, never a measurement


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


class CloudPipeline:
    def __init__(self, ingest_url: str, warehouse: BigQueryWarehouse) -> None:
        self.ingest_url = ingest_url
        self.warehouse = warehouse

    def post_batch(self, events: list[dict[str, Any]]) -> requests.Response:
        return requests.post(
            f"{self.ingest_url}/v1/batch",
            json={"events": events},
            headers={"Authorization": f"Bearer {WRITE_KEY}"},
            timeout=30,
        )

    def event_rows(self) -> list[dict[str, Any]]:
        # Every table is guarded by require_partition_filter: filter on the partition column.
        return self.warehouse.query(
            "SELECT event_id, event_type, source, user_id FROM events "
            "WHERE `timestamp` >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 2 DAY) "
            "ORDER BY event_id"
        ).rows

    def deduplicated_event_ids(self) -> list[str]:
        # The read every Beacon query and rollup makes: one row per event_id.
        result = self.warehouse.query(
            "SELECT event_id FROM events "
            "WHERE `timestamp` >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 2 DAY) "
            "QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY loaded_at) = 1 "
            "ORDER BY event_id"
        )
        return [row["event_id"] for row in result.rows]

    def bad_rows(self) -> list[dict[str, Any]]:
        return self.warehouse.query(
            "SELECT request_id, source, event_index, event_id, reason FROM bad_events "
            "WHERE received_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 2 DAY) "
            "ORDER BY event_index"
        ).rows


@pytest.fixture
def pipeline(
    pubsub_host: str,  # also sets PUBSUB_EMULATOR_HOST for the admin clients below
    pubsub_emulator: RunningEmulator,
    bigquery_emulator: str,
    bigquery_write_endpoint: str,
    bigquery_client: bigquery.Client,
) -> Iterator[CloudPipeline]:
    topic = unique("events")
    dataset = unique("beacon")
    # As Pulumi does in the cloud: the dataset and every table exist before any function starts,
    # so the load function's start-up only lists them.
    warehouse = BigQueryWarehouse(
        bigquery_client,
        dataset,
        location="US",
        max_bytes_billed=10**9,
        write_endpoint=bigquery_write_endpoint,
    )
    warehouse.ensure_tables()
    load_env = {
        "BEACON_BACKEND": "gcp",
        "BEACON_GCP_PROJECT": PROJECT,
        "BEACON_DATASET": dataset,
        "BEACON_BIGQUERY_ENDPOINT": bigquery_emulator,
        "BEACON_BIGQUERY_WRITE_ENDPOINT": bigquery_write_endpoint,
    }
    ingest_env = {
        "BEACON_BACKEND": "gcp",
        "BEACON_GCP_PROJECT": PROJECT,
        "BEACON_TOPIC": topic,
        "BEACON_WRITE_KEYS": f"web:{WRITE_KEY}",
        "PUBSUB_EMULATOR_HOST": pubsub_emulator.host,
    }
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic_path = publisher.topic_path(PROJECT, topic)
    subscription_path = subscriber.subscription_path(PROJECT, unique("load"))
    try:
        with (
            serve_function("load", load_env, signature_type="cloudevent") as load_url,
            serve_function("ingest", ingest_env) as ingest_url,
        ):
            publisher.create_topic(name=topic_path)
            # A wrapped push, as infra/delivery.py configures it (there with an OIDC token).
            subscriber.create_subscription(
                request={
                    "name": subscription_path,
                    "topic": topic_path,
                    "push_config": {"push_endpoint": f"{load_url}/"},
                    "ack_deadline_seconds": 30,
                }
            )
            yield CloudPipeline(ingest_url, warehouse)
            # Stop the pushes before the load function goes away.
            subscriber.delete_subscription(subscription=subscription_path)
    finally:
        subscriber.close()
        bigquery_client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)


def wait_until_loaded(
    pipeline: CloudPipeline, event_ids: set[str], bad_count: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Poll the warehouse until every event id and rejection arrived, or fail at the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        events, bad = pipeline.event_rows(), pipeline.bad_rows()
        if {row["event_id"] for row in events} >= event_ids and len(bad) >= bad_count:
            return events, bad
        if time.monotonic() > deadline:
            pytest.fail(
                f"after {DEADLINE_SECONDS} s the warehouse holds events "
                f"{sorted(row['event_id'] for row in events)} and {len(bad)} bad_events rows"
            )
        time.sleep(0.2)


@pytest.mark.emulator
def test_batch_posted_to_ingest_lands_in_bigquery_once_per_event(
    pipeline: CloudPipeline,
) -> None:
    events = [
        {"event_type": "login", "event_id": "e2e-1", "user_id": "u1"},
        {"event_type": "page_view", "event_id": "e2e-2", "user_id": "u1"},
        {"event_type": "Login", "event_id": "e2e-bad"},  # event types are lower snake case
        {"event_type": "search", "event_id": "e2e-3", "user_id": "u2"},
        # The same event sent twice, as a client retrying inside one batch does.
        {"event_type": "page_view", "event_id": "e2e-2", "user_id": "u1"},
    ]

    response = pipeline.post_batch(events)

    assert response.status_code == 202
    answer = response.json()
    assert answer["accepted"] == 4
    assert [(r["index"], r["event_id"]) for r in answer["rejected"]] == [(2, "e2e-bad")]
    good_ids = {"e2e-1", "e2e-2", "e2e-3"}
    rows, bad = wait_until_loaded(pipeline, good_ids, bad_count=1)

    # Once per event_id through the de-duplicating read every query makes.
    assert pipeline.deduplicated_event_ids() == sorted(good_ids)
    copies = {event_id: 0 for event_id in good_ids}
    for row in rows:
        copies[row["event_id"]] += 1
    # Each message was pushed, loaded and acknowledged once: no redelivered copies, and the
    # event repeated inside the batch was appended once.
    assert copies == {"e2e-1": 1, "e2e-2": 1, "e2e-3": 1}
    assert {
        (row["event_id"], row["event_type"], row["source"], row["user_id"]) for row in rows
    } == {
        ("e2e-1", "login", "web", "u1"),
        ("e2e-2", "page_view", "web", "u1"),
        ("e2e-3", "search", "web", "u2"),
    }
    assert bad == [
        {
            "request_id": response.headers["X-Request-Id"],
            "source": "web",
            "event_index": 2,
            "event_id": "e2e-bad",
            "reason": "invalid_event",
        }
    ]


@pytest.mark.emulator
def test_a_user_active_a_moment_ago_is_erased_and_exported_at_once(
    pipeline: CloudPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What insertAll's streaming buffer refuses on BigQuery (DML on rows streamed in the last
    30-90 minutes) is what the Storage Write API allows: erasure right after the load.

    The emulator cannot run a script with parameters (every rollup script: "Values were not
    provided for the following prepared statement parameters"), so the rollups erasure then
    recomputes are recorded here, not run; the DuckDB tests run them (test_gdpr.py)."""
    recomputed: list[tuple[Any, Any]] = []
    monkeypatch.setattr(
        gdpr,
        "run_rollups",
        lambda warehouse, *, start, end, churn_days: recomputed.append((start, end)),
    )
    events = [
        {"event_type": "login", "event_id": "fresh-1", "user_id": "u-fresh"},
        {
            "event_type": "search",
            "event_id": "fresh-2",
            "user_id": "u-fresh",
            "properties": {"query": "plumber", "result_count": 2},
        },
        {"event_type": "Login", "event_id": "fresh-bad", "user_id": "u-fresh"},
        {"event_type": "login", "event_id": "other-1", "user_id": "u-other"},
    ]
    assert pipeline.post_batch(events).status_code == 202
    wait_until_loaded(pipeline, {"fresh-1", "fresh-2", "other-1"}, bad_count=1)
    settings = Settings.from_env({})

    exported = export_user(pipeline.warehouse, settings, "u-fresh")
    assert sorted(json.loads(line)["event_id"] for line in exported.events) == [
        "fresh-1",
        "fresh-2",
    ]
    assert [row["reason"] for row in exported.bad_events] == ["invalid_event"]

    summary = delete_user(pipeline.warehouse, settings, "u-fresh")

    assert summary["status"] == "done"
    assert recomputed and recomputed[0][1] == datetime.now(UTC).date()  # today, fresh rows
    assert summary["deleted"]["events"] == 2
    assert summary["deleted"]["bad_events"] == 1
    assert [row["event_id"] for row in pipeline.event_rows()] == ["other-1"]
    assert pipeline.bad_rows() == []
    assert export_user(pipeline.warehouse, settings, "u-fresh").events == []
