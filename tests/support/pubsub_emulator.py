"""Google's Pub/Sub emulator (from the Cloud SDK on the machine image) as pytest fixtures.

`pubsub_emulator` starts one emulator per test session (Java start-up costs about 1.5 s and
300 MB, so it is shared); `pubsub_host` points PUBSUB_EMULATOR_HOST at it for one test. Both
skip, with the reason, where the SDK's emulator component is not installed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .serve import free_port

EMULATOR_RELATIVE = Path("platform/pubsub-emulator/bin/cloud-pubsub-emulator")
START_TIMEOUT = 60.0


def find_emulator() -> Path | None:
    """The emulator's launcher: $PUBSUB_EMULATOR_BIN, else beside the gcloud on PATH."""
    override = os.environ.get("PUBSUB_EMULATOR_BIN")
    if override:
        return Path(override) if Path(override).is_file() else None
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None
    # gcloud is SDK_ROOT/bin/gcloud, usually reached through a symlink such as /usr/bin/gcloud.
    launcher = Path(gcloud).resolve().parents[1] / EMULATOR_RELATIVE
    if launcher.is_file():
        return launcher
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        answer = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        root = answer.stdout.strip()
        if root and (Path(root) / EMULATOR_RELATIVE).is_file():
            return Path(root) / EMULATOR_RELATIVE
    return None


@dataclass
class RunningEmulator:
    host: str  # HOST:PORT, the value for PUBSUB_EMULATOR_HOST
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        # The launcher script starts Java in the session we created for it: end that group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"Pub/Sub emulator exited with {process.returncode}: {log_path.read_text()[-2000:]}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"Pub/Sub emulator not listening on {port} after {START_TIMEOUT} s")


@contextlib.contextmanager
def start_emulator(launcher: Path, data_dir: Path) -> Iterator[RunningEmulator]:
    """Run an emulator on a free loopback port; it keeps state in memory, logs in data_dir."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "emulator.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(launcher), "--host=127.0.0.1", f"--port={port}"],
            cwd=data_dir,  # anything it writes lands in the test's own directory
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    emulator = RunningEmulator(f"127.0.0.1:{port}", process, log_path)
    try:
        _wait_for_port(port, process, log_path)
        yield emulator
    finally:
        emulator.stop()


def require_emulator() -> Path:
    launcher = find_emulator()
    if launcher is None:
        pytest.skip(
            "Pub/Sub emulator absent: install the Cloud SDK component "
            "google-cloud-cli-pubsub-emulator (or set PUBSUB_EMULATOR_BIN)"
        )
    return launcher


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[RunningEmulator]:
    launcher = require_emulator()
    with (
        tempfile.TemporaryDirectory(prefix="pubsub-emulator-") as data_dir,
        start_emulator(launcher, Path(data_dir)) as emulator,
    ):
        yield emulator


@pytest.fixture
def pubsub_host(pubsub_emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    return pubsub_emulator.host


@pytest.fixture
def private_pubsub_emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    """An emulator of the test's own, for tests that stop it; costs a Java start-up."""
    launcher = require_emulator()
    with start_emulator(launcher, tmp_path / "pubsub-emulator") as emulator:
        yield emulator
