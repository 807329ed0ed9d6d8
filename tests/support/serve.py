"""Serve a Beacon function with the real functions-framework CLI (gunicorn) on loopback."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import requests

from functions.local.devserver.serving import stop_process
from functions.local.smtp_sink import free_port

__all__ = ["REPO", "free_port", "serve_function", "wait_for_http"]

REPO = Path(__file__).resolve().parents[2]


def wait_for_http(
    url: str, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing answered at {url} within {timeout} s")


@contextlib.contextmanager
def serve_function(
    name: str,
    env: Mapping[str, str],
    *,
    signature_type: str = "http",
    source: Path | None = None,
    log_path: Path | None = None,
) -> Iterator[str]:
    """Run functions-framework on functions/NAME/main.py (or SOURCE); yield its base URL.

    LOG_PATH, when given, receives the server's output (else a temporary file does).
    """
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "functions-framework"),
        f"--target={name}",
        f"--source={source or REPO / 'functions' / name / 'main.py'}",
        f"--signature-type={signature_type}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    # The server's output goes to a file, not a pipe: an unread pipe fills up and stalls the server.
    opened = log_path.open("w+b") if log_path else tempfile.TemporaryFile()  # noqa: SIM115
    with opened as log:
        process = subprocess.Popen(
            command, cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_for_http(base_url + "/healthz", process=process)
            except (RuntimeError, TimeoutError) as exc:
                log.seek(0)
                output = log.read().decode(errors="replace")[-4000:]
                raise RuntimeError(f"{exc}\n--- server output ---\n{output}") from None
            yield base_url
        finally:
            stop_process(process, timeout=10)
