"""The Google Cloud APIs the pipeline uses, enabled before anything that needs them."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

APIS = (
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "eventarc.googleapis.com",  # unused by the push delivery (infra/delivery.py); free to keep on
    "pubsub.googleapis.com",
    "bigquery.googleapis.com",
    "cloudscheduler.googleapis.com",
    "secretmanager.googleapis.com",
    "iam.googleapis.com",
    "cloudresourcemanager.googleapis.com",  # project-level IAM bindings
    "storage.googleapis.com",
    "monitoring.googleapis.com",  # alert policies and the dashboard (infra/monitoring.py)
    "logging.googleapis.com",  # the log-based metric of failed scheduler attempts
)
BUDGET_APIS = ("billingbudgets.googleapis.com",)


class ProjectServicesArgs:
    def __init__(self, project: str, with_budget: bool) -> None:
        self.project = project
        self.with_budget = with_budget


class ProjectServices(pulumi.ComponentResource):
    services: list[gcp.projects.Service]

    def __init__(
        self, name: str, args: ProjectServicesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("beacon:infra:ProjectServices", name, None, opts)
        apis = APIS + (BUDGET_APIS if args.with_budget else ())
        self.services = [
            gcp.projects.Service(
                api.split(".")[0],
                project=args.project,
                service=api,
                # Other things in the project may use the same API: never switch it off.
                disable_on_destroy=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in apis
        ]
        self.register_outputs({"services": [s.service for s in self.services]})
