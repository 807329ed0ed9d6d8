"""Call a Beacon function the way its scheduler would: `beacon jobs run`, `beacon alerts` and
`beacon gdpr` all go through here.

- Locally, `call_function` POSTs the body to the running `beacon dev`'s function on loopback
  (BEACON_<FUNCTION>_PORT, else the registry's port) + path, exactly as Cloud Scheduler does in
  the cloud.
- If nothing listens there, it serves the same request in this process instead: the function's
  app (through functions-framework's test client) against the local DuckDB file.
- With BEACON_BACKEND=gcp, `run_job` asks Cloud Scheduler to run the deployed job (projects/P/
  locations/REGION/jobs/NAME); the job then runs with its deployed body.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import requests

from functions import runtime
from functions.local.devserver.guard import job_headers
from functions.local.devserver.serving import LOOPBACK, source_of
from functions.registry import function_named
from functions.schedules import ScheduledJob, job_named
from functions.settings import Settings, SettingsError

# Which job paths read a date range or a dry-run flag from their body. Others would ignore the
# flag, so it is refused rather than letting a "dry run" write.
RANGE_PATHS = frozenset({"/v1/jobs/rollup"})
DRY_RUN_PATHS = frozenset({"/v1/jobs/alerts", "/v1/jobs/retention", "/v1/jobs/report"})


class JobRunError(RuntimeError):
    """The job could not be run; the message says why and what to do."""


class SchedulerClient(Protocol):
    """The slice of google.cloud.scheduler_v1.CloudSchedulerClient used here."""

    def run_job(self, *, name: str) -> Any: ...


@dataclass(frozen=True)
class JobOutcome:
    how: str  # "http", "in-process", "cloud-scheduler" (or "bigquery": `beacon gdpr` on GCP)
    target: str  # the URL, database or job resource name
    status: int  # HTTP status (200 for Cloud Scheduler's accepted run)
    body: Mapping[str, Any]


def request_body(
    job: ScheduledJob, start: date | None, end: date | None, dry_run: bool
) -> dict[str, Any]:
    """The job's scheduled body, with the command line's range and dry-run on top."""
    if (start is not None or end is not None) and job.path not in RANGE_PATHS:
        raise JobRunError(f"{job.name} takes no --start or --end")
    if dry_run and job.path not in DRY_RUN_PATHS:
        raise JobRunError(f"{job.name} has no dry-run mode")
    body = dict(job.body)
    if start is not None:
        body["start"] = start.isoformat()
    if end is not None:
        body["end"] = end.isoformat()
    if start is not None or end is not None:
        body.pop("days", None)  # an explicit range replaces the schedule's trailing days
    if dry_run:
        body["dry_run"] = True
    return body


def local_port(function_name: str, env: Mapping[str, str]) -> int:
    """The port `beacon dev` serves the function on: BEACON_<NAME>_PORT, else the registry's."""
    variable = f"BEACON_{function_name.upper()}_PORT"
    raw = env.get(variable, "")
    port = function_named(function_name).local_port
    if raw:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{variable} must be an integer, got {raw!r}") from None
    if port is None:
        raise JobRunError(f"function {function_name} is not served over HTTP")
    return port


def run_job(
    name: str,
    *,
    start: date | None = None,
    end: date | None = None,
    dry_run: bool = False,
    env: Mapping[str, str] | None = None,
    scheduler_client: SchedulerClient | None = None,
) -> JobOutcome:
    env = os.environ if env is None else env
    try:
        job = job_named(name)
    except KeyError as exc:
        raise JobRunError(str(exc.args[0])) from None
    settings = Settings.from_env(env)
    if settings.backend == "gcp":
        given = [
            flag
            for flag, value in (("--start", start), ("--end", end), ("--dry-run", dry_run))
            if value
        ]
        if given:
            # Name only the flags given: `beacon alerts --dry-run` has no --start or --end.
            flags = given[0] if len(given) == 1 else f"{', '.join(given[:-1])} and {given[-1]}"
            verb = "applies" if len(given) == 1 else "apply"
            raise JobRunError(
                f"Cloud Scheduler runs a job with its deployed body; {flags} only {verb} to "
                "local runs (BEACON_BACKEND=local)"
            )
        return run_on_cloud_scheduler(job, settings, env, scheduler_client)
    body = request_body(job, start, end, dry_run)
    return call_function(job.function, job.path, body, settings, env)


def call_function(
    function: str,
    path: str,
    body: Mapping[str, Any],
    settings: Settings,
    env: Mapping[str, str],
) -> JobOutcome:
    """POST body to the local function's path; when nothing listens, serve it in this process.

    Any answer of a running function is returned as it is, whatever its status: only a refused
    connection means "no `beacon dev`" and falls back to running here.
    """
    url = f"http://{LOOPBACK}:{local_port(function, env)}{path}"
    try:
        headers = {"User-Agent": "beacon-jobs-run", **job_headers(settings.data_dir)}
        response = requests.post(url, json=dict(body), headers=headers, timeout=3600)
    except requests.ConnectionError:
        return run_in_process(function, path, body, settings, tried=url)
    return JobOutcome("http", url, response.status_code, _json_or_text(response.text))


def run_in_process(
    function: str,
    path: str,
    body: Mapping[str, Any],
    settings: Settings,
    *,
    tried: str = "the function's local port",
) -> JobOutcome:
    """Serve one request to the function here, against the DuckDB file of settings."""
    import functions_framework

    from functions.local.devserver.pipeline import DatabaseLocked, open_duckdb

    try:
        warehouse = open_duckdb(settings.duckdb_path, settings.duckdb_memory_limit)
    except DatabaseLocked as exc:
        # Usually a `beacon dev` on other ports than the ones asked: it holds the file, so the
        # request has to go to it rather than run here.
        raise JobRunError(
            f"nothing answered at {tried}, and {exc}. If `beacon dev` holds the file, set "
            f"BEACON_{function.upper()}_PORT to its {function} port; otherwise stop the "
            "process holding the file."
        ) from None
    runtime.reset()
    runtime.use_settings(settings)
    runtime.use_warehouse(warehouse)
    try:
        spec = function_named(function)
        app = functions_framework.create_app(  # type: ignore[no-untyped-call]
            target=spec.entry_point, source=str(source_of(function))
        )
        response = app.test_client().post(path, json=dict(body))
        text = response.get_data(as_text=True)
        return JobOutcome(
            "in-process", str(settings.duckdb_path), response.status_code, _json_or_text(text)
        )
    finally:
        runtime.reset()
        warehouse.close()


def run_on_cloud_scheduler(
    job: ScheduledJob,
    settings: Settings,
    env: Mapping[str, str],
    client: SchedulerClient | None,
) -> JobOutcome:
    if not settings.gcp_project:
        raise JobRunError("BEACON_GCP_PROJECT (or GOOGLE_CLOUD_PROJECT) must name the project")
    resource = f"projects/{settings.gcp_project}/locations/{settings.gcp_region}/jobs/{job.name}"
    if client is None:
        from google.cloud import scheduler_v1

        client = scheduler_v1.CloudSchedulerClient()
    ran = client.run_job(name=resource)
    state = getattr(ran, "state", None)
    return JobOutcome(
        "cloud-scheduler",
        resource,
        200,
        {"job": resource, "state": getattr(state, "name", str(state))},
    )


def _json_or_text(text: str) -> Mapping[str, Any]:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return {"text": text[:2000]}
    return parsed if isinstance(parsed, dict) else {"result": parsed}


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def note_how(command: str, function: str, outcome: JobOutcome) -> None:
    """Say on standard error where the request went; standard output stays the JSON answer."""
    if outcome.how == "in-process":
        print(
            f"{command}: no `beacon dev` answered on the {function} port; "
            f"ran in this process on {outcome.target}",
            file=sys.stderr,
        )
    elif outcome.how == "cloud-scheduler":
        print(
            f"{command}: asked Cloud Scheduler to run {outcome.target}; it runs with its "
            "deployed body and reports in the function's logs",
            file=sys.stderr,
        )
    elif outcome.how == "bigquery":
        print(f"{command}: ran directly in BigQuery {outcome.target}", file=sys.stderr)
    if outcome.status != 200:
        print(f"{command}: the {function} function answered {outcome.status}", file=sys.stderr)
