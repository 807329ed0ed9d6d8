"""End to end: `beacon dev` with its demo history and a live stream, stopped with Ctrl-C.

The live sender must stop before ingest does, so everything it had accepted reaches DuckDB, and
it must not keep dev from exiting 0.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from tests.test_e2e_dev import DevProcess

HISTORY_EVENTS = 300
LIVE_RATE = 40  # events a second, so a few seconds of live traffic are a few hundred events
LIVE_REQUESTS = 10  # live batches (one a second) to see at ingest before Ctrl-C


class LiveDevProcess(DevProcess):
    def args(self) -> list[str]:
        with_demo = [arg for arg in super().args() if arg != "--no-demo"]
        return [*with_demo, f"--demo-events={HISTORY_EVENTS}", f"--live-rate={LIVE_RATE}"]

    def batch_requests(self) -> int:
        log = self.data_dir / "logs" / "ingest.log"
        return log.read_text().count('"path":"/v1/batch"') if log.exists() else 0

    def wait_until(self, condition: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process is not None and self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.1)

    def errors_and_events(self) -> tuple[int, int]:
        with duckdb.connect(str(self.data_dir / "beacon.duckdb"), read_only=True) as db:
            row = db.execute(
                "SELECT COUNT(*) FILTER (WHERE error_type IS NOT NULL OR success = FALSE), "
                "COUNT(*) FROM events"
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[LiveDevProcess]:
    process = LiveDevProcess.on_free_ports(tmp_path / "data")
    yield process
    process.stop_quietly()


def test_live_demo_stops_on_ctrl_c_with_every_accepted_event_in_duckdb(
    dev: LiveDevProcess,
) -> None:
    dev.start()
    dev.wait_until(lambda: "live demo: " in dev.output())
    history_requests = dev.batch_requests()
    dev.wait_until(lambda: dev.batch_requests() >= history_requests + LIVE_REQUESTS)

    assert dev.interrupt() == 0
    output = dev.output()
    assert "the first 2 minutes are an error spike, on purpose" in output
    history = re.search(r"^accepted (\d+), rejected 0", output, re.MULTILINE)
    live = re.search(
        r"^live demo: sent (\d+) events through beacon-client"
        r" \(accepted (\d+), rejected 0, dropped 0\)",
        output,
        re.MULTILINE,
    )
    assert history is not None and live is not None, output
    assert int(history.group(1)) == HISTORY_EVENTS
    live_sent, live_accepted = int(live.group(1)), int(live.group(2))
    assert live_accepted == live_sent > 0
    counts = dev.event_counts()
    assert len(counts) == HISTORY_EVENTS + live_accepted
    assert set(counts.values()) == {1}
    # Every live event so far falls in the deliberate spike: far more errors than the history's.
    errors, events = dev.errors_and_events()
    assert errors / events > 0.05
