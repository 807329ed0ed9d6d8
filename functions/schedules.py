"""The one definition of Beacon's scheduled jobs.

Pulumi deploys each entry as a Cloud Scheduler job that POSTs `body` to the named function with an
OIDC token; `beacon dev` runs the same entries on the same cron expressions against its local
functions. Times are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ScheduledJob:
    name: str  # Cloud Scheduler job id and `beacon jobs run NAME`
    function: str  # a name from functions.registry.FUNCTIONS
    path: str  # HTTP path on that function
    cron: str  # five-field cron, UTC
    description: str
    body: dict[str, Any] = field(default_factory=dict)


SCHEDULES: tuple[ScheduledJob, ...] = (
    ScheduledJob(
        name="rollup-today",
        function="rollup",
        path="/v1/jobs/rollup",
        cron="5 * * * *",
        description="Recompute today's rollups every hour.",
        body={"days": 1},
    ),
    ScheduledJob(
        name="rollup",
        function="rollup",
        path="/v1/jobs/rollup",
        cron="30 2 * * *",
        description="Recompute the trailing days' rollups, counting late events.",
        body={},
    ),
    ScheduledJob(
        name="retention",
        function="rollup",
        path="/v1/jobs/retention",
        cron="0 3 * * *",
        description="Delete raw partitions older than the retention period.",
        body={},
    ),
    ScheduledJob(
        name="alerts",
        function="alerts",
        path="/v1/jobs/alerts",
        cron="*/5 * * * *",
        description="Check error rate, latency, revenue, cost and silence; mail on change.",
        body={},
    ),
    ScheduledJob(
        name="weekly-report",
        function="alerts",
        path="/v1/jobs/report",
        cron="0 7 * * 1",
        description="Mail last week's report (KPIs against the week before), once per week.",
        body={"period": "week"},
    ),
)


def job_named(name: str) -> ScheduledJob:
    for job in SCHEDULES:
        if job.name == name:
            return job
    known = ", ".join(job.name for job in SCHEDULES)
    raise KeyError(f"no scheduled job named {name!r}; known jobs: {known}")
