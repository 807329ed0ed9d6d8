"""`beacon dev`'s Prometheus /metrics over real HTTP: what ingest accepted and rejected, the load,
freshness, the queue, alerts and the warehouse side, parsed with prometheus-client's own parser."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

from functions.alerts.runner import CHECKS
from functions.bus import Message
from functions.envelope import Envelope, MalformedEnvelope
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.local.localqueue import LocalQueue
from functions.local.metrics import FRESHNESS_BUCKETS, PipelineMetrics
from functions.query.values import parse_json_time
from functions.settings import Settings
from tests.support.serve import free_port
from tests.test_e2e_dev import AUTH, DevProcess, event

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevProcess]:
    process = DevProcess.on_free_ports(tmp_path / "data")
    process.start()
    yield process
    process.stop_quietly()


def test_metrics_count_what_ingest_accepted_and_rejected_once_loaded(dev: DevProcess) -> None:
    ingest = dev.url("ingest")
    now = datetime.now(UTC)
    good = [event(f"m-{n}", timestamp=(now - timedelta(minutes=1)).isoformat()) for n in range(30)]
    bad = [{"event_type": "Bad Type"}, {"timestamp": "yesterday"}]
    batch = requests.post(ingest + "/v1/batch", json={"events": good + bad}, headers=AUTH)
    garbage = requests.post(
        ingest + "/v1/events",
        data=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert batch.status_code == 202 and garbage.status_code == 400
    url = dev.url("metrics") + "/metrics"
    deadline = time.monotonic() + 30
    while True:
        samples = scrape(url)
        loaded = samples.get(("beacon_events_accepted_total", (("source", "dev"),)), 0)
        rejected = sum(v for (n, _), v in samples.items() if n == "beacon_events_rejected_total")
        if (loaded, rejected) == (30, 3) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert loaded == 30
    assert (
        samples[("beacon_events_rejected_total", (("reason", "invalid_event"), ("source", "dev")))]
        == 2
    )
    assert (
        samples[("beacon_events_rejected_total", (("reason", "invalid_json"), ("source", "dev")))]
        == 1
    )
    assert samples[("beacon_load_rows_total", (("kind", "events"),))] == 30
    assert samples[("beacon_load_rows_total", (("kind", "bad_events"),))] == 3
    assert samples[("beacon_load_batches_total", ())] >= 1
    assert samples[("beacon_freshness_seconds_count", ())] == 30
    assert 0 < samples[("beacon_freshness_seconds_sum", ())] / 30 < 10
    assert samples[("beacon_queue_messages", (("state", "ready"),))] == 0
    assert samples[("beacon_queue_oldest_message_age_seconds", ())] == 0
    assert samples[("beacon_dead_letters", ())] == 0
    last_loaded = samples[("beacon_last_event_loaded_timestamp_seconds", ())]
    assert abs(last_loaded - time.time()) < 60
    firing = {dict(labels)["check"] for (name, labels) in samples if name == "beacon_alerts_firing"}
    assert firing == set(CHECKS)


def test_queue_figures_and_job_successes_at_scrape_time(tmp_path: Path) -> None:
    """A message waiting and one dead, on a clock 90 s later; a job that succeeded."""
    settings = Settings.from_env({"BEACON_DATA_DIR": str(tmp_path)})
    queue = LocalQueue(settings.queue_path, max_attempts=1)
    queue.publish([Message(data=b"{}", attributes={"event_count": "1"})] * 2)
    [first] = queue.claim(1)
    queue.nack([first.message_id], "out of attempts")
    warehouse = DuckDBWarehouse(settings.duckdb_path)
    warehouse.ensure_tables()
    rolled = datetime(2026, 11, 30, 2, 30, tzinfo=UTC)
    metrics = PipelineMetrics(
        queue,
        warehouse,
        settings,
        job_successes=lambda: {"rollup": rolled},
        clock=lambda: time.time() + 90,
    )
    try:
        port = free_port()
        metrics.start("127.0.0.1", port)
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        metrics.stop()
        warehouse.close()
        queue.close()
    assert samples[("beacon_queue_messages", (("state", "ready"),))] == 1
    assert samples[("beacon_dead_letters", ())] == 1
    assert 89 <= samples[("beacon_queue_oldest_message_age_seconds", ())] < 120
    assert samples[("beacon_job_last_success_timestamp_seconds", (("job", "rollup"),))] == (
        rolled.timestamp()
    )


def _acked_samples(registry: CollectorRegistry) -> Samples:
    """The samples counted as batches are acked: events, rows and freshness."""
    prefixes = ("beacon_events_", "beacon_load_rows", "beacon_freshness_seconds")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name.startswith(prefixes) and not sample.name.endswith("_created")
    }


def test_an_acked_batch_is_counted_as_the_load_reads_each_message(tmp_path: Path) -> None:
    """Counts and freshness equal those of reading every message whole (Envelope.from_message,
    the load's reading) and observing each event in prometheus-client's own Histogram."""
    committed = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

    def envelope(kind: str, source: str, records: list[Any], age: float) -> Message:
        return Envelope(
            kind=kind,  # type: ignore[arg-type]
            source=source,
            request_id=f"r-{source}-{len(records)}",
            received_at=(committed - timedelta(seconds=age)).isoformat(),
            sent_at=None,
            records=records,
        ).to_message()

    batch = [
        envelope("events", "web", [{"event_id": f"w{n}"} for n in range(3)], 2.5),
        # On a bucket's bound; and a NaN, which json reads and msgspec does not.
        envelope("events", "app", [{"event_id": "a", "revenue": math.nan}, {}], 0.5),
        envelope("events", "app", [{"event_id": "late"}], 4000.0),  # past every bound
        envelope("bad_events", "web", [{"reason": "invalid_event"}] * 2, 1.0),
        envelope("bad_events", "app", [{"reason": "invalid_json"}, {"no": "reason"}], 1.0),
        Message(data=b"{not json", attributes={}),
        Message(data=b'{"kind": "other", "source": "x", "records": []}', attributes={}),
        Message(  # records that are not objects
            data=b'{"kind": "events", "source": "x", "request_id": "r", "received_at":'
            b' "2026-12-02T11:59:59+00:00", "records": [1, 2]}',
            attributes={},
        ),
        Message(  # a record's text that is not UTF-8
            data=b'{"kind": "events", "source": "x", "request_id": "r", "received_at":'
            b' "2026-12-02T11:59:59+00:00", "records": [{"user_id": "\xff"}]}',
            attributes={},
        ),
    ]
    reference = CollectorRegistry()
    accepted = Counter("beacon_events_accepted", "", ["source"], registry=reference)
    rejected = Counter("beacon_events_rejected", "", ["source", "reason"], registry=reference)
    rows = Counter("beacon_load_rows", "", ["kind"], registry=reference)
    freshness = Histogram(
        "beacon_freshness_seconds", "", buckets=FRESHNESS_BUCKETS, registry=reference
    )
    for message in batch:
        try:
            whole = Envelope.from_message(message.data)
        except MalformedEnvelope:
            rejected.labels("", "malformed_message").inc()
            rows.labels("bad_events").inc()
            continue
        rows.labels(whole.kind).inc(len(whole.records))
        if whole.kind == "bad_events":
            for record in whole.records:
                rejected.labels(whole.source, str(record.get("reason", ""))).inc()
            continue
        accepted.labels(whole.source).inc(len(whole.records))
        received = parse_json_time(whole.received_at)
        assert received is not None
        for _ in whole.records:
            freshness.observe((committed - received).total_seconds())

    settings = Settings.from_env({"BEACON_DATA_DIR": str(tmp_path)})
    queue = LocalQueue(settings.queue_path)
    warehouse = DuckDBWarehouse(settings.duckdb_path)
    warehouse.ensure_tables()
    try:
        metrics = PipelineMetrics(queue, warehouse, settings, clock=committed.timestamp)
        metrics.acked(batch)
        counted = _acked_samples(metrics.registry)
    finally:
        warehouse.close()
        queue.close()
    expected = _acked_samples(reference)
    assert counted == pytest.approx(expected)
    assert expected[("beacon_freshness_seconds_count", ())] == 6
    assert expected[("beacon_freshness_seconds_bucket", (("le", "0.5"),))] == 2
    malformed = (("reason", "malformed_message"), ("source", ""))
    assert expected[("beacon_events_rejected_total", malformed)] == 4
