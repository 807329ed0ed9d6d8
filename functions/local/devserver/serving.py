"""Serve Beacon's functions on loopback: ingest as a real functions-framework (gunicorn) child
process, the DuckDB-bound functions in this process on threaded Werkzeug servers.

DuckDB admits one writing process, so every function that reads or writes the warehouse must run
inside the process that holds the connection; ingest touches only the queue and runs apart, as it
does in the cloud.
"""

from __future__ import annotations

import ctypes
import errno
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import functions_framework
from werkzeug.serving import BaseWSGIServer, make_server

from functions.local.devserver.guard import LocalJobGuard
from functions.registry import function_named

LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class PortInUse(RuntimeError):
    """A port `beacon dev` needs is taken; the message names it and the flag that moves it."""


def source_of(function_name: str) -> Path:
    """The file of the function's entry module, resolved at run time (installed or checked out)."""
    module = function_named(function_name).module
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"cannot find module {module} of function {function_name}")
    return Path(spec.origin)


def check_port_free(port: int, what: str, host: str = LOOPBACK) -> None:
    """Raise PortInUse if nothing can listen on host:port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Same option the servers use, so a port held only by TIME_WAIT sockets counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(f"port {port} ({what}) is already in use on {host}") from None
            raise


class InProcessServer:
    """One function app on a threaded Werkzeug server, served from a daemon thread."""

    def __init__(
        self, function_name: str, port: int, host: str = LOOPBACK, *, job_token: str | None = None
    ) -> None:
        """JOB_TOKEN: the run's token, required of every request (see guard.LocalJobGuard)."""
        spec = function_named(function_name)
        app = functions_framework.create_app(  # type: ignore[no-untyped-call]
            target=spec.entry_point, source=str(source_of(function_name))
        )
        if job_token is not None:
            app.wsgi_app = LocalJobGuard(app.wsgi_app, job_token)
        self.name = function_name
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"serve-{function_name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def _die_with_parent() -> None:  # pragma: no cover (runs in the child between fork and exec)
    # Ask Linux to send SIGTERM to the child when its parent dies, even by SIGKILL, so an
    # ingest server never outlives `beacon dev` and holds its port. gunicorn's SIGTERM is a
    # graceful stop: requests in flight finish publishing before it exits.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def start_ingest_process(
    port: int,
    env: Mapping[str, str],
    host: str = LOOPBACK,
    *,
    stdout: IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ingest under functions-framework's gunicorn, bounded (see ingest_server), as a
    child process.

    Call from the main thread: Linux delivers the parent-death signal when the creating thread
    exits, not the process.
    """
    command = [
        sys.executable,
        "-m",
        "functions.local.devserver.ingest_server",
        f"--host={host}",
        f"--port={port}",
    ]
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    # A session of its own: Ctrl-C in the terminal reaches `beacon dev` only, which then stops
    # ingest gracefully itself, after which it drains the queue.
    return subprocess.Popen(  # noqa: S603 (our own command line)
        command, env=dict(env), preexec_fn=preexec, start_new_session=True, stdout=stdout
    )


def wait_until_listening(
    port: int, process: subprocess.Popen[bytes], timeout: float = 30.0, host: str = LOOPBACK
) -> None:
    """Block until host:port accepts connections; raise if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with code {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout:.0f} s")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM (gunicorn's graceful stop), then SIGKILL if it lingers; return the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
