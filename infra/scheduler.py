"""One Cloud Scheduler job per entry of functions.schedules.SCHEDULES, calling with OIDC."""

from __future__ import annotations

import base64
import json

import pulumi
import pulumi_gcp as gcp

from functions.schedules import SCHEDULES, ScheduledJob

TIME_ZONE = "UTC"  # SCHEDULES' cron expressions are UTC


def request_body(job: ScheduledJob) -> str:
    """The job's JSON body, base64-encoded as Cloud Scheduler's API wants it."""
    return base64.b64encode(json.dumps(job.body, sort_keys=True).encode()).decode()


class SchedulerArgs:
    def __init__(
        self,
        project: str,
        region: str,
        urls: dict[str, pulumi.Output[str]],
        invoker: gcp.serviceaccount.Account,
        timeouts: dict[str, int],
    ) -> None:
        self.project = project
        self.region = region
        self.urls = urls  # function name -> its Cloud Run URL
        self.invoker = invoker
        self.timeouts = timeouts  # function name -> its timeout in seconds


class Scheduler(pulumi.ComponentResource):
    jobs: dict[str, gcp.cloudscheduler.Job]

    def __init__(
        self, name: str, args: SchedulerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("beacon:infra:Scheduler", name, None, opts)
        self.jobs = {}
        for job in SCHEDULES:
            url = args.urls[job.function]
            self.jobs[job.name] = gcp.cloudscheduler.Job(
                f"{name}-{job.name}",
                project=args.project,
                region=args.region,
                name=job.name,
                description=job.description,
                schedule=job.cron,
                time_zone=TIME_ZONE,
                # Wait as long as the function may run before counting the attempt failed.
                attempt_deadline=f"{args.timeouts.get(job.function, 60) + 30}s",
                retry_config=gcp.cloudscheduler.JobRetryConfigArgs(
                    retry_count=3,
                    min_backoff_duration="30s",
                    max_backoff_duration="300s",
                    max_doublings=3,
                ),
                http_target=gcp.cloudscheduler.JobHttpTargetArgs(
                    uri=pulumi.Output.concat(url, job.path),
                    http_method="POST",
                    headers={"Content-Type": "application/json"},
                    body=request_body(job),
                    oidc_token=gcp.cloudscheduler.JobHttpTargetOidcTokenArgs(
                        service_account_email=args.invoker.email,
                        # Cloud Run checks the audience against the service URL, not the path.
                        audience=url,
                    ),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"jobs": sorted(self.jobs)})
