"""`beacon dev`'s Prometheus endpoint, http://127.0.0.1:9464/metrics (prometheus-client).

Counted as the load worker acks each batch (everything ingest accepts or rejects reaches the load
through the queue, so these are ingest's figures, seen once they are loaded):
- beacon_events_accepted_total{source}, beacon_events_rejected_total{source,reason} (the reason
  bad_events records: invalid_event, invalid_json, ...);
- beacon_load_batches_total, beacon_load_rows_total{kind} (events, bad_events);
- beacon_freshness_seconds: from ingest's received_at to the commit that made the row queryable.

Read at each scrape:
- beacon_queue_messages{state} (ready, delayed, leased), beacon_queue_oldest_message_age_seconds,
  beacon_dead_letters, from the queue;
- beacon_job_last_success_timestamp_seconds{job}, from the local scheduler;
- beacon_alerts_firing{check}, and the warehouse side of /v1/health:
  beacon_last_event_loaded_timestamp_seconds and
  beacon_rollup_last_updated_timestamp_seconds{table}.

In the cloud none of this runs: Cloud Monitoring measures Pub/Sub, the functions and the
scheduler, and infra/monitoring.py sets its alert policies and dashboard.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from wsgiref.simple_server import WSGIServer

import msgspec
from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from functions.alerts import state
from functions.alerts.runner import CHECKS
from functions.alerts.state import FIRING
from functions.bus import Message
from functions.envelope import Envelope, Kind, MalformedEnvelope
from functions.local.localqueue import LocalQueue
from functions.query.health import warehouse_figures
from functions.query.reports import Queries
from functions.query.values import parse_json_time
from functions.settings import Settings
from functions.warehouse import Warehouse

logger = logging.getLogger(__name__)

DEFAULT_PORT = 9464  # Prometheus' registry of default ports lists 9464 for such exporters
FRESHNESS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class _Record(msgspec.Struct):
    """A record of an envelope as counted: only a rejection's reason is read, the rest skipped."""

    reason: Any = ""


class _Counted(msgspec.Struct):
    """The fields of an envelope (functions/envelope.py) that /metrics counts by, and
    request_id, which it does not count by but without which the load parks the message."""

    kind: Kind
    source: str
    request_id: str
    received_at: str
    records: list[_Record]


_COUNTED = msgspec.json.Decoder(_Counted)
# How the library writes a bucket's `le` ("0.1", "1.0", "+Inf"); it ships no type hints.
_bucket_label: Callable[[float], str] = floatToGoString


def _count(data: bytes) -> _Counted | None:
    """What /metrics counts of a message, or None when the load parks it as malformed.

    msgspec reads the envelope's fields and skips its records' other values, several times faster
    than reading the whole envelope. What it refuses, Envelope.from_message (the load's reading)
    decides: json reads a few things msgspec does not, such as NaN. A skipped value's UTF-8 is
    not checked, so text that is not UTF-8 goes that way too.
    """
    if data.isascii() or _is_utf8(data):
        try:
            return _COUNTED.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
    try:
        envelope = Envelope.from_message(data)
    except MalformedEnvelope:
        return None
    return _Counted(
        kind=envelope.kind,
        source=envelope.source,
        request_id=envelope.request_id,
        received_at=envelope.received_at,
        records=[_Record(reason=r.get("reason", "")) for r in envelope.records],
    )


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _Freshness(Collector):
    """beacon_freshness_seconds: a histogram that takes all the events of an envelope at once.

    The events of one envelope share its received_at, so they share a freshness. The library's
    Histogram takes one value a call, at about 2 us under its lock: most of what counting an
    acked batch cost (20,000 calls for 20,000 events).
    """

    name = "beacon_freshness_seconds"
    documentation = "Seconds from ingest receiving an event to the commit that made it queryable"

    def __init__(self, buckets: Sequence[float]) -> None:
        self._bounds = (*buckets, math.inf)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, seconds: float, count: int) -> None:
        """COUNT events, each SECONDS old (le: a value on a bound counts in that bucket)."""
        with self._lock:
            self._counts[bisect.bisect_left(self._bounds, seconds)] += count
            self._sum += seconds * count

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative = list(itertools.accumulate(counts))
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric(
            [],
            [(_bucket_label(b), c) for b, c in zip(self._bounds, cumulative, strict=True)],
            total,
        )
        yield family


def _unix(moment: object) -> float | None:
    when = parse_json_time(moment)
    return None if when is None else when.timestamp()


class PipelineMetrics:
    """The registry /metrics serves; `acked` is the load worker's on_acked hook."""

    def __init__(
        self,
        queue: LocalQueue,
        warehouse: Warehouse,
        settings: Settings,
        job_successes: Callable[[], Mapping[str, datetime]] = dict,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = CollectorRegistry()
        self.clock = clock
        self.accepted = Counter(
            "beacon_events_accepted",
            "Events ingest accepted, per source (counted as the load takes them from the queue)",
            ["source"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "beacon_events_rejected",
            "Rejections ingest recorded in bad_events, per source and reason",
            ["source", "reason"],
            registry=self.registry,
        )
        self.batches = Counter(
            "beacon_load_batches", "Batches the load worker wrote and acked", registry=self.registry
        )
        self.rows = Counter(
            "beacon_load_rows",
            "Rows the load worker wrote, per kind",
            ["kind"],
            registry=self.registry,
        )
        self.freshness = _Freshness(FRESHNESS_BUCKETS)
        self.registry.register(self.freshness)
        self.registry.register(_ScrapeCollector(queue, warehouse, settings, job_successes, clock))
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def acked(self, batch: Sequence[Message]) -> None:
        committed = self.clock()
        self.batches.inc()
        for message in batch:
            counted = _count(message.data)
            if counted is None:
                # The load parked it in bad_events under this reason.
                self.rejected.labels("", "malformed_message").inc()
                self.rows.labels("bad_events").inc()
                continue
            count = len(counted.records)
            self.rows.labels(counted.kind).inc(count)
            if counted.kind == "events":
                self.accepted.labels(counted.source).inc(count)
                received = _unix(counted.received_at)
                if received is not None and count:
                    self.freshness.observe(max(0.0, committed - received), count)
            else:
                for record in counted.records:
                    self.rejected.labels(counted.source, str(record.reason)).inc()

    def start(self, host: str, port: int) -> None:
        self._server, self._thread = start_http_server(port, host, registry=self.registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)


class MetricsServer:
    """PipelineMetrics as a part of the dev pipeline (start/stop)."""

    def __init__(self, metrics: PipelineMetrics, host: str, port: int) -> None:
        self.metrics, self.host, self.port = metrics, host, port

    def start(self) -> None:
        self.metrics.start(self.host, self.port)

    def stop(self) -> None:
        self.metrics.stop()


class _ScrapeCollector(Collector):
    def __init__(
        self,
        queue: LocalQueue,
        warehouse: Warehouse,
        settings: Settings,
        job_successes: Callable[[], Mapping[str, datetime]],
        clock: Callable[[], float],
    ) -> None:
        self.queue = queue
        self.warehouse = warehouse
        self.settings = settings
        self.job_successes = job_successes
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        # Each source on its own: a busy warehouse must not hide the queue's figures.
        for part in (self._queue, self._jobs, self._alerts, self._warehouse_health):
            try:
                yield from part()
            except Exception:
                logger.exception("metrics: %s failed", part.__name__)

    def _queue(self) -> Iterator[Metric]:
        depth = self.queue.depth()
        messages = GaugeMetricFamily(
            "beacon_queue_messages", "Messages waiting in the queue, per state", labels=["state"]
        )
        for name in ("ready", "delayed", "leased"):
            messages.add_metric([name], depth[name])
        yield messages
        oldest = self.queue.oldest_published_at()
        age = 0.0 if oldest is None else max(0.0, self.clock() - oldest)
        yield GaugeMetricFamily(
            "beacon_queue_oldest_message_age_seconds",
            "Age of the oldest message not yet loaded (0 when the queue is empty)",
            value=age,
        )
        yield GaugeMetricFamily(
            "beacon_dead_letters",
            "Messages the load gave up on after every attempt",
            value=depth["dead"],
        )

    def _jobs(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "beacon_job_last_success_timestamp_seconds",
            "Unix time each scheduled job last succeeded in this `beacon dev` run",
            labels=["job"],
        )
        for job, moment in sorted(self.job_successes().items()):
            family.add_metric([job], moment.timestamp())
        yield family

    def _alerts(self) -> Iterator[Metric]:
        now = datetime.fromtimestamp(self.clock(), UTC)
        cooldown = timedelta(minutes=self.settings.alert_cooldown_minutes)
        latest = state.latest_states(self.warehouse, now, cooldown)
        family = GaugeMetricFamily(
            "beacon_alerts_firing", "1 while the alert check is firing", labels=["check"]
        )
        for check in CHECKS:
            row = latest.get(check)
            family.add_metric([check], 1.0 if row is not None and row.status == FIRING else 0.0)
        yield family

    def _warehouse_health(self) -> Iterator[Metric]:
        now = datetime.fromtimestamp(self.clock(), UTC)
        loaded, written = warehouse_figures(Queries(self.warehouse, "metrics", now=now))
        last = _unix(loaded["last_loaded_at"])
        if last is not None:
            yield GaugeMetricFamily(
                "beacon_last_event_loaded_timestamp_seconds",
                "Unix time of the newest row the load wrote (events of the last three days)",
                value=last,
            )
        family = GaugeMetricFamily(
            "beacon_rollup_last_updated_timestamp_seconds",
            "Unix time each rollup table was last written",
            labels=["table"],
        )
        for table, moment in written.items():
            updated = _unix(moment)
            if updated is not None:
                family.add_metric([table], updated)
        yield family
