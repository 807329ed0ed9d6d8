"""`beacon dev`: the whole pipeline on one machine, wired as it is in the cloud.

    client -> ingest (functions-framework child process) -> SQLite queue -> load worker -> DuckDB
    dashboard -> query        scheduler -> rollup, alerts -> SMTP sink (.eml files)

This process owns the only DuckDB connection (DuckDB allows one writing process), so the load
worker and every function that reads the warehouse run here; ingest needs only the queue.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from functions import runtime
from functions.load.core import LoadHandler
from functions.local.devserver.guard import job_headers, new_job_token, token_path
from functions.local.devserver.scheduler import HttpFire, LocalScheduler
from functions.local.devserver.serving import (
    LOOPBACK,
    InProcessServer,
    check_port_free,
    start_ingest_process,
    stop_process,
    wait_until_listening,
)
from functions.local.localqueue import LocalQueue
from functions.local.metrics import MetricsServer, PipelineMetrics
from functions.local.worker import QueueWorker
from functions.registry import function_named
from functions.schedules import SCHEDULES
from functions.settings import Settings
from functions.warehouse import Warehouse

logger = logging.getLogger(__name__)

IN_PROCESS_FUNCTIONS = ("query", "rollup", "alerts")  # those bound to the DuckDB connection
SOURCE_NAME = "dev"  # the write key's source name under `beacon dev`
# Alerts with no recipient are recorded but never mailed; locally every mail lands in the SMTP
# sink, so an address that goes nowhere else is safe and lets the demo's alert show up as a file.
DEV_ALERT_RECIPIENT = "dev@localhost"


class DatabaseLocked(RuntimeError):
    """Another process holds the DuckDB file (DuckDB admits one writer)."""


class Stoppable(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class DevOptions:
    data_dir: Path
    ports: Mapping[str, int]  # function name -> port, plus "smtp"
    write_key: str
    admin_token: str
    host: str = LOOPBACK

    def url(self, function_name: str) -> str:
        return f"http://{self.host}:{self.ports[function_name]}"


def function_available(name: str) -> bool:
    """Whether the function's module exists in this checkout (features land one by one)."""
    try:
        return importlib.util.find_spec(function_named(name).module) is not None
    except ModuleNotFoundError:
        return False


def dev_environment(options: DevOptions, base: Mapping[str, str]) -> dict[str, str]:
    """The environment every local function sees: the user's, with the dev wiring on top."""
    env = dict(base)
    env.update(
        {
            "BEACON_BACKEND": "local",
            "BEACON_DATA_DIR": str(options.data_dir),
            "BEACON_WRITE_KEYS": f"{SOURCE_NAME}:{options.write_key}",
            "BEACON_ADMIN_TOKENS": options.admin_token,
            "BEACON_ALLOWED_ORIGINS": "*",
            "BEACON_SMTP_HOST": options.host,
            "BEACON_SMTP_PORT": str(options.ports["smtp"]),
            "BEACON_SMTP_SECURITY": "none",
            "BEACON_DASHBOARD_URL": env.get("BEACON_DASHBOARD_URL") or options.url("query") + "/",
            "BEACON_ALERT_RECIPIENTS": env.get("BEACON_ALERT_RECIPIENTS") or DEV_ALERT_RECIPIENT,
        }
    )
    return env


def open_duckdb(path: Path, memory_limit: str | None = None) -> Warehouse:
    from functions.local.duckdb_warehouse import DuckDBWarehouse

    try:
        warehouse: Warehouse = DuckDBWarehouse(path, memory_limit=memory_limit)
        warehouse.ensure_tables()
    except Exception as exc:
        if "lock" in str(exc).lower():
            raise DatabaseLocked(
                f"{path} is locked by another process (another `beacon dev`?): {exc}"
            ) from exc
        raise
    return warehouse


class DevPipeline:
    """Start and stop the local pipeline's parts in dependency order."""

    def __init__(self, options: DevOptions, base_env: Mapping[str, str] | None = None) -> None:
        self.options = options
        self.env = dev_environment(options, os.environ if base_env is None else base_env)
        self.settings = Settings.from_env(self.env)
        self.served = [n for n in IN_PROCESS_FUNCTIONS if function_available(n)]
        self.smtp_available = importlib.util.find_spec("functions.local.smtp_sink") is not None
        self.warehouse: Warehouse | None = None
        self.queue: LocalQueue | None = None
        self.worker: QueueWorker | None = None
        self.ingest: subprocess.Popen[bytes] | None = None
        self.ingest_log = options.data_dir / "logs" / "ingest.log"
        self._log_file: IO[bytes] | None = None
        self.released = 0  # leases of a killed predecessor made claimable again
        self._parts: list[Stoppable] = []  # started in-process parts, stopped in reverse
        self._feeds: list[Stoppable] = []  # event senders into ingest, stopped before it
        self.scheduler: LocalScheduler | None = None

    def check_ports(self) -> None:
        wanted = ["ingest", *self.served] + (["smtp"] if self.smtp_available else [])
        wanted += ["metrics"] if "metrics" in self.options.ports else []
        for name in wanted:
            check_port_free(self.options.ports[name], name, self.options.host)

    def start(self) -> None:
        """Start everything; on failure, stop what started and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.check_ports()
        self.options.data_dir.mkdir(parents=True, exist_ok=True)
        os.environ.update(self.env)  # functions that read the environment see the dev wiring
        runtime.reset()
        runtime.use_settings(self.settings)
        self.warehouse = open_duckdb(self.settings.duckdb_path, self.settings.duckdb_memory_limit)
        runtime.use_warehouse(self.warehouse)
        self.queue = LocalQueue(
            self.settings.queue_path,
            max_attempts=self.settings.queue_max_attempts,
            max_bytes=self.settings.queue_max_bytes,
        )
        runtime.use_publisher(self.queue)
        # This process is the queue's only consumer: a lease still held belongs to a
        # predecessor that was killed mid-batch, so hand those messages out again now.
        self.released = self.queue.release_leases()
        metrics = self._metrics()
        self.worker = QueueWorker(
            self.queue,
            LoadHandler(self.warehouse),
            batch_size=200,
            on_acked=None if metrics is None else metrics.acked,
        )
        self.worker.start()
        if metrics is not None:
            self._start_part(
                MetricsServer(metrics, self.options.host, self.options.ports["metrics"])
            )
        if self.smtp_available:
            self._start_part(self._smtp_sink())
        # The job functions (private in the cloud, behind IAM) take only this run's token.
        job_token = new_job_token(self.options.data_dir)
        for name in self.served:
            token = None if function_named(name).public else job_token
            server = InProcessServer(
                name, self.options.ports[name], self.options.host, job_token=token
            )
            self._start_part(server)
        # Ingest logs one JSON line per request: to a file, so the terminal stays readable.
        self.ingest_log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.ingest_log.open("ab")
        self.ingest = start_ingest_process(
            self.options.ports["ingest"],
            self.env,
            self.options.host,
            stdout=self._log_file,
        )
        wait_until_listening(self.options.ports["ingest"], self.ingest, host=self.options.host)
        urls = {name: self.options.url(name) for name in self.served}
        jobs = [job for job in SCHEDULES if job.function in urls]
        fire = HttpFire(urls, headers=job_headers(self.options.data_dir))
        self.scheduler = LocalScheduler(jobs, fire)
        self._start_part(self.scheduler)

    def _metrics(self) -> PipelineMetrics | None:
        """/metrics on the metrics port, when one is given (`beacon dev` always gives one)."""
        if "metrics" not in self.options.ports:
            return None
        assert self.queue is not None and self.warehouse is not None
        return PipelineMetrics(
            self.queue,
            self.warehouse,
            self.settings,
            job_successes=lambda: dict(self.scheduler.succeeded) if self.scheduler else {},
        )

    def start_feed(self, feed: Stoppable) -> None:
        """Start something that sends events to ingest, such as the live demo stream."""
        # stop() ends feeds before ingest, so all they had accepted is queued when it drains.
        feed.start()
        self._feeds.append(feed)

    def _start_part(self, part: Stoppable) -> None:
        part.start()
        self._parts.append(part)

    def _smtp_sink(self) -> Stoppable:
        module = importlib.import_module("functions.local.smtp_sink")
        sink: Stoppable = module.SmtpSink(
            self.options.data_dir / "mail", self.options.host, self.options.ports["smtp"]
        )
        return sink

    def ingest_exit_code(self) -> int | None:
        return None if self.ingest is None else self.ingest.poll()

    def queue_depth(self) -> dict[str, int]:
        return {} if self.queue is None else self.queue.depth()

    def stop(self) -> bool:
        """Stop accepting, drain the queue into DuckDB, close DuckDB. True when fully drained."""
        drained = True
        # Event feeds and the scheduler first (no new events or jobs), then ingest, then the rest.
        for feed in self._feeds:
            with _logged(f"stopping {type(feed).__name__}"):
                feed.stop()
        self._feeds.clear()
        scheduler = [p for p in self._parts if isinstance(p, LocalScheduler)]
        for job_clock in scheduler:
            job_clock.stop()
        if self.ingest is not None:
            stop_process(self.ingest)
        if self._log_file is not None:
            self._log_file.close()
        for part in reversed([p for p in self._parts if p not in scheduler]):
            with _logged(f"stopping {type(part).__name__}"):
                part.stop()
        self._parts.clear()
        if self.worker is not None:
            drained = self.worker.stop(drain=True, timeout=60.0)
        if self.warehouse is not None:
            with _logged("closing DuckDB"):
                self.warehouse.close()  # checkpoints, so other processes can read the file
        if self.queue is not None:
            self.queue.close()
        token_path(self.options.data_dir).unlink(missing_ok=True)
        runtime.reset()
        return drained

    def summary(self) -> dict[str, Any]:
        metrics = "metrics" in self.options.ports
        return {
            "ingest": self.options.url("ingest"),
            "metrics": self.options.url("metrics") + "/metrics" if metrics else None,
            "served": {name: self.options.url(name) for name in self.served},
            "database": str(self.settings.duckdb_path),
            "released": self.released,
        }


@contextlib.contextmanager
def _logged(what: str) -> Any:
    try:
        yield
    except Exception:
        logger.exception("%s failed", what)
