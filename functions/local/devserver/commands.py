"""The `beacon dev`, `beacon demo` and `beacon jobs run` commands. Every flag has a variable."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import secrets
import signal
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import requests

from functions.local.devserver import demo, sender
from functions.local.devserver.guard import job_headers
from functions.local.devserver.jobs_client import JobRunError, local_port, run_job
from functions.local.devserver.pipeline import DatabaseLocked, DevOptions, DevPipeline
from functions.local.devserver.serving import LOOPBACK, PortInUse
from functions.local.metrics import DEFAULT_PORT as DEFAULT_METRICS_PORT
from functions.schedules import SCHEDULES
from functions.settings import DEV_ADMIN_TOKEN, DEV_WRITE_KEY, SettingsError, env_flag

EXIT_USAGE = 2  # argparse's code, also used for a port already taken
DEFAULT_DEMO_EVENTS = 20_000
DRAIN_WAIT_SECONDS = 120.0
SPIKE_MINUTES = round(demo.SPIKE_SECONDS / 60)


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "") or default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


def _rate(raw: str) -> float:
    """Events a second: a finite number, 0 or more."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of events a second, 0 or more: {raw!r}")
    return value


def _env_rate(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return _rate(raw) if raw else default
    except argparse.ArgumentTypeError as exc:
        raise SettingsError(f"{name} {exc}") from None


def _port(name: str) -> int:
    return local_port(name, os.environ)


def register(subparsers: Any) -> None:
    _register_dev(subparsers)
    _register_demo(subparsers)
    _register_jobs(subparsers)


def _register_dev(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dev",
        help="run the whole pipeline locally (ingest, queue, DuckDB, dashboard, scheduler)",
        description=(
            "Run Beacon on this machine: ingest on --ingest-port, the dashboard on --query-port, "
            "rollup and alerts on their ports, a local queue and DuckDB under --data-dir, the "
            "schedules of functions/schedules.py, an SMTP sink that keeps alert mails as "
            ".eml files, and Prometheus metrics on --metrics-port. Ctrl-C drains the queue "
            "into DuckDB and exits."
        ),
    )
    parser.add_argument(
        "--ingest-port", type=int, default=_port("ingest"), help="env BEACON_INGEST_PORT"
    )
    parser.add_argument(
        "--query-port", type=int, default=_port("query"), help="env BEACON_QUERY_PORT"
    )
    parser.add_argument(
        "--rollup-port", type=int, default=_port("rollup"), help="env BEACON_ROLLUP_PORT"
    )
    parser.add_argument(
        "--alerts-port", type=int, default=_port("alerts"), help="env BEACON_ALERTS_PORT"
    )
    parser.add_argument(
        "--smtp-port",
        type=int,
        default=_env_int("BEACON_SMTP_PORT", 1025),
        help="port of the local SMTP sink; env BEACON_SMTP_PORT",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=_env_int("BEACON_METRICS_PORT", DEFAULT_METRICS_PORT),
        help="port of the Prometheus /metrics endpoint; env BEACON_METRICS_PORT",
    )
    parser.add_argument(
        "--write-key",
        default=_env("BEACON_WRITE_KEY", DEV_WRITE_KEY),
        help="the local write key (default: a fixed development key, never for production); "
        "env BEACON_WRITE_KEY",
    )
    parser.add_argument(
        "--admin-token",
        default=_env("BEACON_ADMIN_TOKEN", DEV_ADMIN_TOKEN),
        help="the dashboard's admin token (default: a fixed development token); "
        "env BEACON_ADMIN_TOKEN",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(_env("BEACON_DATA_DIR", ".beacon")),
        help="where the queue, DuckDB file, logs and mails live; env BEACON_DATA_DIR",
    )
    parser.add_argument(
        "--no-demo",
        action="store_true",
        default=env_flag(os.environ, "BEACON_NO_DEMO"),
        help="send no demo events at all (neither the history nor the live stream); "
        "env BEACON_NO_DEMO=1",
    )
    parser.add_argument(
        "--demo-events",
        type=int,
        default=_env_int("BEACON_DEMO_EVENTS", DEFAULT_DEMO_EVENTS),
        help="how many demo events of history to send into an empty database; "
        "env BEACON_DEMO_EVENTS",
    )
    parser.add_argument(
        "--live-rate",
        type=_rate,
        default=_env_rate("BEACON_LIVE_RATE", demo.DEFAULT_LIVE_RATE),
        metavar="EVENTS_PER_SECOND",
        help="after the history, keep sending live demo events, timestamped now, at this rate "
        "(0 turns the live stream off); env BEACON_LIVE_RATE",
    )
    parser.add_argument(
        "--no-error-spike",
        action="store_true",
        default=env_flag(os.environ, "BEACON_NO_ERROR_SPIKE"),
        help=f"start the live stream without its deliberate {SPIKE_MINUTES}-minute error spike "
        "(which makes the error-rate alert fire, then resolve); env BEACON_NO_ERROR_SPIKE=1",
    )
    parser.set_defaults(handler=run_dev)


def _register_demo(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="send realistic demo events to a running ingest",
        description="Generate six weeks of events of three demo products and POST them in "
        "batches of 100 to a running ingest function.",
    )
    parser.add_argument(
        "--events", type=int, default=_env_int("BEACON_DEMO_EVENTS", DEFAULT_DEMO_EVENTS)
    )
    parser.add_argument(
        "--url",
        default=_env("BEACON_INGEST_URL", f"http://{LOOPBACK}:{_port('ingest')}"),
        help="base URL of the ingest function; env BEACON_INGEST_URL",
    )
    parser.add_argument(
        "--write-key",
        default=_env("BEACON_WRITE_KEY", DEV_WRITE_KEY),
        help="env BEACON_WRITE_KEY (default: the development key)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="same seed, same events (default: random)"
    )
    parser.add_argument("--gzip", action="store_true", help="gzip each request body")
    parser.set_defaults(handler=run_demo)


def _register_jobs(subparsers: Any) -> None:
    parser = subparsers.add_parser("jobs", help="run scheduled jobs now")
    commands = parser.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    names = ", ".join(job.name for job in SCHEDULES)
    run = commands.add_parser(
        "run",
        help="run one scheduled job now",
        description=(
            "POST the job to the running `beacon dev` as Cloud Scheduler would; with nothing "
            "listening, run it in this process against the local DuckDB file. With "
            "BEACON_BACKEND=gcp, ask Cloud Scheduler to run the deployed job "
            "(BEACON_GCP_PROJECT, BEACON_GCP_REGION)."
        ),
    )
    run.add_argument("name", metavar="NAME", help=f"one of: {names}")
    run.add_argument(
        "--start", type=date.fromisoformat, help="rollup jobs: first day, YYYY-MM-DD (local runs)"
    )
    run.add_argument(
        "--end", type=date.fromisoformat, help="rollup jobs: last day, YYYY-MM-DD (local runs)"
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="alerts and retention: report what would be mailed or deleted, change nothing "
        "(local runs)",
    )
    run.set_defaults(handler=run_jobs)


# -- beacon jobs run ------------------------------------------------------------------------


def run_jobs(args: argparse.Namespace) -> int:
    try:
        outcome = run_job(args.name, start=args.start, end=args.end, dry_run=args.dry_run)
    except (JobRunError, SettingsError) as exc:
        print(f"beacon jobs run: {exc}", file=sys.stderr)
        return 1
    if outcome.how == "in-process":
        print(f"no beacon dev answering; ran {args.name} in-process on {outcome.target}")
    print(f"{args.name}: {outcome.how} {outcome.target} -> {outcome.status}")
    print(json.dumps(outcome.body, indent=2, default=str))
    return 0 if outcome.status < 300 else 1


# -- beacon demo ----------------------------------------------------------------------------


def run_demo(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    events = demo.generate_events(args.events, seed=seed, now=datetime.now(UTC))
    print(f"sending {len(events)} demo events (seed {seed}) to {args.url}", file=sys.stderr)
    try:
        report = _send_with_progress(events, args.url, args.write_key, args.gzip, None)
    except sender.SendFailed as exc:
        print(f"beacon demo: {exc}", file=sys.stderr)
        return 1
    _print_report(report)
    return 0 if report.rejected == 0 else 1


def _send_with_progress(
    events: list[dict[str, Any]],
    url: str,
    write_key: str,
    compress: bool,
    stop: threading.Event | None,
) -> sender.SendReport:
    progress = sender.Progress(len(events), "demo events")
    report = sender.send_events(
        events, url, write_key, compress=compress, stop=stop, on_progress=progress.update
    )
    progress.finish(report.sent)
    return report


def _print_report(report: sender.SendReport) -> None:
    print(
        f"accepted {report.accepted}, rejected {report.rejected}, retried {report.retries} batches",
        file=sys.stderr,
    )
    for error in report.errors:
        print(f"  rejected: {error}", file=sys.stderr)


# -- beacon dev -----------------------------------------------------------------------------


def dev_options(args: argparse.Namespace) -> DevOptions:
    return DevOptions(
        data_dir=args.data_dir.resolve(),
        ports={
            "ingest": args.ingest_port,
            "query": args.query_port,
            "rollup": args.rollup_port,
            "alerts": args.alerts_port,
            "smtp": args.smtp_port,
            "metrics": args.metrics_port,
        },
        write_key=args.write_key,
        admin_token=args.admin_token,
    )


def run_dev(args: argparse.Namespace) -> int:
    options = dev_options(args)
    stop = threading.Event()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # A line per dashboard request or SMTP connection drowns out what matters; warnings show.
    for chatty in ("werkzeug", "mail.log"):
        logging.getLogger(chatty).setLevel(logging.WARNING)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    pipeline = DevPipeline(options)
    try:
        pipeline.start()
    except PortInUse as exc:
        print(
            f"beacon dev: {exc}; free it or pick another with its flag (see --help)",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_USAGE
    except (DatabaseLocked, SettingsError) as exc:
        print(f"beacon dev: {exc}", file=sys.stderr, flush=True)
        return 1
    except (RuntimeError, TimeoutError) as exc:  # ingest did not come up; it printed why
        print(f"beacon dev: {exc} (its errors are above)", file=sys.stderr, flush=True)
        return 1
    _print_banner(pipeline, options)
    code = 0
    live: sender.LiveSender | None = None
    if not args.no_demo and not stop.is_set():
        _run_demo_into(pipeline, options, args.demo_events, stop)
    if not args.no_demo and args.live_rate > 0 and not stop.is_set():
        live = _start_live(pipeline, options, args.live_rate, spike=not args.no_error_spike)
    while not stop.wait(0.5):
        if pipeline.ingest_exit_code() is not None:
            print(f"beacon dev: ingest exited with code {pipeline.ingest_exit_code()}", flush=True)
            code = 1
            break
    print("beacon dev: stopping; draining the queue into DuckDB", flush=True)
    drained = pipeline.stop()  # stops the live stream before ingest, so all it sent is queued
    if live is not None:
        report = live.report
        unsent = f", unsent {live.unsent}" if live.unsent else ""
        print(
            f"live demo: sent {report.sent} events through beacon-client (accepted "
            f"{report.accepted}, rejected {report.rejected}, dropped {live.dropped}{unsent})",
            flush=True,
        )
    if not drained:
        print("beacon dev: queue not fully drained; the rest loads at next start", flush=True)
    print(f"beacon dev: stopped; {options.data_dir / 'beacon.duckdb'} is closed", flush=True)
    return code


def _print_banner(pipeline: DevPipeline, options: DevOptions) -> None:
    lines = [
        f"ingest      {options.url('ingest')}  (POST /v1/events, /v1/batch)",
        f"write key   {options.write_key}  (local development key; never use in production)"
        if options.write_key == DEV_WRITE_KEY
        else f"write key   {options.write_key}",
        f"database    {pipeline.settings.duckdb_path}",
        f"queue       {pipeline.settings.queue_path}",
        f"ingest log  {pipeline.ingest_log}",
    ]
    if "query" in pipeline.served:
        lines.append(f"dashboard   {options.url('query')}/")
        lines.append(f"admin token {options.admin_token}")
    for name in ("rollup", "alerts"):
        if name in pipeline.served:
            lines.append(f"{name:<11} {options.url(name)}  (private jobs; see `beacon jobs run`)")
    if pipeline.smtp_available:
        mail = options.data_dir / "mail"
        to = ", ".join(pipeline.settings.alert_recipients)
        lines.append(
            f"smtp sink   {options.host}:{options.ports['smtp']} -> {mail}/*.eml  (alerts to {to})"
        )
    if "metrics" in options.ports:
        lines.append(f"metrics     {options.url('metrics')}/metrics  (Prometheus)")
    if pipeline.released:
        lines.append(f"redelivering {pipeline.released} messages a stopped run had in flight")
    lines.append("Ctrl-C to stop (the queue drains into DuckDB first)")
    print("\n".join(lines), flush=True)


def _run_demo_into(
    pipeline: DevPipeline, options: DevOptions, count: int, stop: threading.Event
) -> None:
    existing = _events_in_database(pipeline)
    if existing:
        print(f"demo: skipped, the database already holds {existing} events", flush=True)
        return
    events = demo.generate_events(count, seed=secrets.randbits(32), now=datetime.now(UTC))
    try:
        report = _send_with_progress(events, options.url("ingest"), options.write_key, False, stop)
    except sender.SendFailed as exc:
        print(f"demo: {exc}", file=sys.stderr, flush=True)
        return
    _print_report(report)
    if stop.is_set() or "rollup" not in pipeline.served:
        return
    _wait_for_queue(pipeline, stop)
    today = datetime.now(UTC).date()
    first = today - timedelta(days=demo.HISTORY_DAYS)
    url = options.url("rollup") + "/v1/jobs/rollup"
    body = {"start": first.isoformat(), "end": today.isoformat()}
    try:
        headers = job_headers(options.data_dir)
        response = requests.post(url, json=body, headers=headers, timeout=600)
        print(f"demo: rollup {body['start']}..{body['end']} -> {response.status_code}", flush=True)
    except requests.RequestException as exc:
        print(f"demo: rollup failed: {exc}", file=sys.stderr, flush=True)


def _start_live(
    pipeline: DevPipeline, options: DevOptions, rate: float, *, spike: bool
) -> sender.LiveSender:
    events = demo.live_events(
        seed=secrets.randbits(32),
        start=datetime.now(UTC),
        rate=rate,
        spike_seconds=demo.SPIKE_SECONDS if spike else 0.0,
    )
    live = sender.LiveSender(events, options.url("ingest"), options.write_key)
    pipeline.start_feed(live)
    print(
        f"live demo: {rate:g} events/s to {options.url('ingest')} through the Python client "
        "(beacon-client), timestamped now "
        "(--live-rate, 0 turns it off)",
        flush=True,
    )
    if spike:
        mail = options.data_dir / "mail"
        print(
            f"live demo: the first {SPIKE_MINUTES} minutes are an error spike, on purpose "
            "(about a third of events are errors): with the default alert settings the error-rate "
            f"alert mails once to {mail}/ within about 5 minutes, and a resolved mail about "
            "15-25 minutes after the start (--no-error-spike turns the spike off)",
            flush=True,
        )
    return live


def _events_in_database(pipeline: DevPipeline) -> int:
    if pipeline.warehouse is None:
        return 0
    since = datetime.now(UTC) - timedelta(days=3650)
    result = pipeline.warehouse.query(
        "SELECT COUNT(*) AS n FROM events WHERE `timestamp` >= @since", {"since": since}
    )
    return int(result.rows[0]["n"]) if result.rows else 0


def _wait_for_queue(pipeline: DevPipeline, stop: threading.Event) -> None:
    deadline = time.monotonic() + DRAIN_WAIT_SECONDS
    while time.monotonic() < deadline and not stop.is_set():
        depth = pipeline.queue_depth()
        if depth.get("ready", 0) + depth.get("leased", 0) + depth.get("delayed", 0) == 0:
            return
        time.sleep(0.2)
