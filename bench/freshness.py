"""Benchmark freshness under steady load (not a test; `python bench/freshness.py`).

Runs the local pipeline as `beacon dev` does (DevPipeline: ingest under functions-framework in a
child process, the SQLite queue, the load worker, DuckDB) on free ports, sends events at a steady
rate, and measures, per event, the time from ingest's answer (202) to the row being visible to a
query. A poller queries the warehouse every POLL_SECONDS for the events sent, so visibility is
known to within that interval. The same pipeline first runs a trickle (BASELINE_RATE events/s)
as the baseline of this run: what the pipeline takes when it is idle. Target: p95 <= 2 s at
1,000 events/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from functions.local.devserver.pipeline import DevOptions, DevPipeline  # noqa: E402
from tests.support.serve import free_port  # noqa: E402

KEY = "bench-freshness-key"
TARGET_P95_S = 2.0
BASELINE_RATE = 20
POLL_SECONDS = 0.05
BATCH = 10  # events per request: a web client flushing its queue
SENDERS = 4


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Run:
    """Send `rate` events/s for `seconds`; collect each event's answer and visibility times."""

    def __init__(self, pipeline: DevPipeline, ingest: str, rate: int, seconds: float) -> None:
        self.pipeline, self.ingest, self.rate, self.seconds = pipeline, ingest, rate, seconds
        self.answered: dict[str, float] = {}
        self.visible: dict[str, float] = {}
        self.lock = threading.Lock()
        self.sending = threading.Event()
        self.refused = 0

    def sender(self, index: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {KEY}"
        per_sender = self.rate / SENDERS / BATCH  # requests per second of this sender
        began = time.monotonic()
        sent = 0
        while time.monotonic() - began < self.seconds:
            due = began + sent / per_sender
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            now = datetime.now(UTC).isoformat()
            ids = [f"f-{uuid.uuid4().hex}" for _ in range(BATCH)]
            events = [
                {"event_id": i, "event_type": "page_view", "timestamp": now, "user_id": "u"}
                for i in ids
            ]
            response = session.post(self.ingest + "/v1/batch", json={"events": events}, timeout=30)
            answered = time.monotonic()
            if response.status_code != 202:
                self.refused += 1
            else:
                with self.lock:
                    self.answered.update(dict.fromkeys(ids, answered))
            sent += 1

    def poller(self) -> None:
        warehouse = self.pipeline.warehouse
        assert warehouse is not None
        today = datetime.now(UTC).date()
        while self.sending.is_set() or len(self.visible) < len(self.answered):
            began = time.monotonic()
            rows = warehouse.query(
                "SELECT event_id FROM events WHERE DATE(`timestamp`) >= @today"
                " AND event_id LIKE 'f-%' AND loaded_at >= @since",
                {"today": today, "since": self.since},
            ).rows
            seen = time.monotonic()
            for row in rows:
                self.visible.setdefault(row["event_id"], seen)
            if not self.sending.is_set() and time.monotonic() > self.deadline:
                break
            time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - began)))

    def run(self) -> dict[str, float]:
        self.since = datetime.now(UTC)
        self.sending.set()
        poller = threading.Thread(target=self.poller, daemon=True)
        senders = [threading.Thread(target=self.sender, args=(n,)) for n in range(SENDERS)]
        poller.start()
        started = time.monotonic()
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()
        elapsed = time.monotonic() - started
        self.deadline = time.monotonic() + 30
        self.sending.clear()
        poller.join()
        lags = [self.visible[i] - t for i, t in self.answered.items() if i in self.visible]
        return {
            "rate": len(self.answered) / elapsed,
            "events": len(self.answered),
            "unseen": len(self.answered) - len(lags),
            "refused_requests": self.refused,
            "p50": percentile(lags, 0.5),
            "p95": percentile(lags, 0.95),
            "max": max(lags),
            "mean": statistics.fmean(lags),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000, help="events per second (default 1000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of load (default 20)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="beacon-freshness-") as tmp:
        ports = {name: free_port() for name in ("ingest", "query", "rollup", "alerts", "smtp")}
        options = DevOptions(Path(tmp), ports, KEY, "bench-admin-token")
        pipeline = DevPipeline(options)
        pipeline.start()
        try:
            ingest = options.url("ingest")
            baseline = Run(pipeline, ingest, BASELINE_RATE, 5).run()
            loaded = Run(pipeline, ingest, args.rate, args.seconds).run()
        finally:
            pipeline.stop()
    print(f"freshness: ingest's 202 -> row visible to a query (poll every {POLL_SECONDS} s)")
    print(f"  {'':28} {'events/s':>9} {'events':>7} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    for label, figures in ((f"baseline ({BASELINE_RATE}/s)", baseline), ("under load", loaded)):
        print(
            f"  {label:28} {figures['rate']:9.0f} {figures['events']:7.0f} {figures['p50']:7.3f}"
            f" {figures['p95']:7.3f} {figures['max']:7.3f}"
        )
    for figures in (baseline, loaded):
        if figures["unseen"] or figures["refused_requests"]:
            print(
                f"  NOT SEEN: {figures['unseen']:.0f} events, refused requests "
                f"{figures['refused_requests']:.0f}"
            )
    verdict = "ok" if loaded["p95"] <= TARGET_P95_S else "ABOVE TARGET"
    print(f"  target p95 <= {TARGET_P95_S} s at {args.rate} events/s: {verdict}")


if __name__ == "__main__":
    main()
