"""End to end: `beacon dev` as a real subprocess on free ports, driven over HTTP like a client.

Ingest runs under functions-framework (gunicorn) in dev's child process, the load worker and
DuckDB in dev itself; the database is read afterwards by this (another) process, read-only.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from tests.support.serve import free_port, wait_for_http

BEACON = Path(sys.executable).parent / "beacon"
WRITE_KEY = "e2e-write-key"
READY_LINE = "Ctrl-C to stop"


@dataclass
class DevProcess:
    data_dir: Path
    ports: dict[str, int]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def on_free_ports(cls, data_dir: Path) -> DevProcess:
        names = ("ingest", "query", "rollup", "alerts", "smtp", "metrics")
        ports = {name: free_port() for name in names}
        return cls(data_dir, ports, data_dir.parent / f"{data_dir.name}-dev.log")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def env(self) -> dict[str, str]:
        """What `beacon jobs run` needs to find this dev (every port has its variable)."""
        env = {f"BEACON_{name.upper()}_PORT": str(port) for name, port in self.ports.items()}
        return {**os.environ, **env, "BEACON_DATA_DIR": str(self.data_dir)}

    def args(self) -> list[str]:
        return [
            str(BEACON),
            "dev",
            "--no-demo",
            f"--data-dir={self.data_dir}",
            f"--write-key={WRITE_KEY}",
            *(f"--{name}-port={port}" for name, port in self.ports.items()),
        ]

    def start(self, extra_env: Mapping[str, str] | None = None) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.args(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(extra_env or {})},
            )
        wait_for_http(self.url("ingest") + "/healthz", timeout=60, process=self.process)
        deadline = time.monotonic() + 30
        while READY_LINE not in self.output():
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def interrupt(self, timeout: float = 90) -> int:
        """Ctrl-C, then wait for the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)

    def kill_hard(self) -> None:
        """kill -9, then wait until its ingest child (told by the kernel) has let go of its port."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.ports["ingest"]), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.05)
        raise TimeoutError("the ingest server outlived beacon dev")

    def stop_quietly(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def event_counts(self) -> dict[str, int]:
        """event_id -> rows in DuckDB, read the way another process would after shutdown."""
        path = self.data_dir / "beacon.duckdb"
        with duckdb.connect(str(path), read_only=True) as db:
            rows = db.execute("SELECT event_id, COUNT(*) FROM events GROUP BY event_id").fetchall()
        return {str(event_id): int(count) for event_id, count in rows}


AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}


def event(event_id: str, event_type: str = "page_view", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": event_type,
        "timestamp": "2025-05-01T12:00:00Z",
        "user_id": "user-1",
        "platform": "web",
        **fields,
    }


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevProcess]:
    process = DevProcess.on_free_ports(tmp_path / "data")
    yield process
    process.stop_quietly()


@pytest.fixture(scope="module")
def running_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    """One dev shared by the tests that only need it up."""
    process = DevProcess.on_free_ports(tmp_path_factory.mktemp("shared") / "data")
    process.start()
    yield process
    process.stop_quietly()


def test_every_kind_of_ingest_request_lands_once_and_survives_ctrl_c(dev: DevProcess) -> None:
    dev.start()
    ingest = dev.url("ingest")
    single = requests.post(ingest + "/v1/events", json=event("single-1"), headers=AUTH)
    batch = requests.post(
        ingest + "/v1/batch",
        json={"events": [event("batch-1"), event("batch-2", "signup"), event("batch-3")]},
        headers=AUTH,
    )
    beacon = requests.post(  # what navigator.sendBeacon sends: text/plain, key in the URL
        ingest + f"/v1/events?key={WRITE_KEY}",
        data=json.dumps(event("beacon-1")),
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    zipped = requests.post(
        ingest + "/v1/batch",
        data=gzip.compress(json.dumps({"events": [event("gzip-1"), event("gzip-2")]}).encode()),
        headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    repeats = [
        requests.post(ingest + "/v1/events", json=event("repeated-1"), headers=AUTH)
        for _ in range(3)
    ]
    answers = [single, batch, beacon, zipped, *repeats]
    assert [r.status_code for r in answers] == [202] * 7
    assert [r.json()["accepted"] for r in answers] == [1, 3, 1, 2, 1, 1, 1]

    assert dev.interrupt() == 0
    expected = {"single-1", "batch-1", "batch-2", "batch-3", "beacon-1", "gzip-1", "gzip-2"}
    assert dev.event_counts() == {event_id: 1 for event_id in expected | {"repeated-1"}}


def test_every_accepted_event_survives_a_kill_9_mid_stream_exactly_once(dev: DevProcess) -> None:
    dev.start()
    accepted: list[str] = []
    stop = threading.Event()

    def client(name: str) -> None:
        session = requests.Session()
        number = 0
        while not stop.is_set():
            event_id = f"{name}-{number}"
            number += 1
            try:
                response = session.post(
                    dev.url("ingest") + "/v1/events", json=event(event_id), headers=AUTH, timeout=5
                )
            except requests.RequestException:
                time.sleep(0.01)  # dev is down: keep trying, as a real client would
                continue
            if response.status_code == 202:
                accepted.append(event_id)

    clients = [threading.Thread(target=client, args=(f"c{n}",)) for n in range(3)]
    for thread in clients:
        thread.start()
    deadline = time.monotonic() + 30
    while len(accepted) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    dev.kill_hard()  # mid-stream: clients are still sending, the worker is loading
    stop.set()
    for thread in clients:
        thread.join()
    assert len(accepted) >= 300

    dev.start()  # same data dir and ports: redelivers what the killed run had in flight
    assert dev.interrupt() == 0
    counts = dev.event_counts()
    assert [e for e in accepted if counts.get(e) != 1] == []
    assert max(counts.values()) == 1


def test_a_second_dev_on_a_taken_port_exits_2_with_a_clear_message(
    running_dev: DevProcess, tmp_path: Path
) -> None:
    second = subprocess.run(
        [
            str(BEACON),
            "dev",
            "--no-demo",
            f"--data-dir={tmp_path / 'other'}",
            f"--ingest-port={running_dev.ports['ingest']}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2
    assert f"port {running_dev.ports['ingest']} (ingest) is already in use" in second.stderr


def test_jobs_run_posts_to_the_running_dev_like_cloud_scheduler(running_dev: DevProcess) -> None:
    ran = subprocess.run(
        [str(BEACON), "jobs", "run", "rollup-today"],
        capture_output=True,
        text=True,
        env=running_dev.env(),
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    url = f"{running_dev.url('rollup')}/v1/jobs/rollup"
    assert ran.stdout.startswith(f"rollup-today: http {url} -> 200")


def test_beacon_demo_sends_gzipped_batches_that_ingest_accepts(running_dev: DevProcess) -> None:
    sent = subprocess.run(
        [
            str(BEACON),
            "demo",
            "--events=450",
            "--seed=5",
            "--gzip",
            f"--url={running_dev.url('ingest')}",
            f"--write-key={WRITE_KEY}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sent.returncode == 0, sent.stderr
    assert "accepted 450, rejected 0" in sent.stderr
