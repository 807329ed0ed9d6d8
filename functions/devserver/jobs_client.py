"""`beacon jobs run NAME`: run a scheduled job now, the way its scheduler would.

- Locally, POST the job's body to the running `beacon dev`'s function URL + path, exactly as
  Cloud Scheduler does in the cloud.
- If nothing listens there, run the job in this process instead: the function's app (through
  functions-framework's test client) against the local DuckDB file.
- With BEACON_BACKEND=gcp, ask Cloud Scheduler to run the deployed job (projects/P/locations/
  REGION/jobs/NAME); the job then runs with its deployed body.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import requests

from functions import runtime
from functions.devserver.serving import LOOPBACK, source_of
from functions.registry import function_named
from functions.schedules import ScheduledJob, job_named
from functions.settings import Settings, SettingsError

DEFAULT_REGION = "us-central1"
# Which job paths read a date range or a dry-run flag from their body. Others would ignore the
# flag, so it is refused rather than letting a "dry run" write.
RANGE_PATHS = frozenset({"/v1/jobs/rollup"})
DRY_RUN_PATHS = frozenset({"/v1/jobs/alerts", "/v1/jobs/retention"})


class JobRunError(RuntimeError):
    """The job could not be run; the message says why and what to do."""


class SchedulerClient(Protocol):
    """The slice of google.cloud.scheduler_v1.CloudSchedulerClient used here."""

    def run_job(self, *, name: str) -> Any: ...


@dataclass(frozen=True)
class JobOutcome:
    how: str  # "http", "in-process" or "cloud-scheduler"
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
        if start is not None or end is not None or dry_run:
            raise JobRunError(
                "Cloud Scheduler runs a job with its deployed body; --start, --end and "
                "--dry-run only apply to local runs"
            )
        return run_on_cloud_scheduler(job, settings, env, scheduler_client)
    body = request_body(job, start, end, dry_run)
    url = f"http://{LOOPBACK}:{local_port(job.function, env)}{job.path}"
    try:
        response = requests.post(
            url, json=body, headers={"User-Agent": "beacon-jobs-run"}, timeout=3600
        )
    except requests.ConnectionError:
        return run_in_process(job, body, settings)
    return JobOutcome("http", url, response.status_code, _json_or_text(response.text))


def run_in_process(job: ScheduledJob, body: Mapping[str, Any], settings: Settings) -> JobOutcome:
    """Serve one request to the job's function here, against the DuckDB file of settings."""
    import functions_framework

    from functions.devserver.pipeline import DatabaseLocked, open_duckdb

    try:
        warehouse = open_duckdb(settings.duckdb_path)
    except DatabaseLocked as exc:
        raise JobRunError(
            f"nothing answered at the function's local port, and {exc}. Start `beacon dev` "
            "on its usual ports or stop the process holding the file."
        ) from None
    runtime.reset()
    runtime.use_settings(settings)
    runtime.use_warehouse(warehouse)
    try:
        spec = function_named(job.function)
        app = functions_framework.create_app(  # type: ignore[no-untyped-call]
            target=spec.entry_point, source=str(source_of(job.function))
        )
        response = app.test_client().post(job.path, json=dict(body))
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
    region = env.get("BEACON_GCP_REGION", "") or DEFAULT_REGION
    resource = f"projects/{settings.gcp_project}/locations/{region}/jobs/{job.name}"
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
