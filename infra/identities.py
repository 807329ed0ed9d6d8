"""One service account per function, plus the callers' and the builder's accounts.

Each function runs as its own account so that a leak in one (say the public ingest function)
gives only that function's narrow rights; infra/grants.py gives each account its roles.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from functions.registry import FUNCTIONS

# Cloud Build's account for the function images: Google's documented minimum for a custom one.
BUILDER_ROLES = (
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
    "roles/storage.objectViewer",
)


class IdentitiesArgs:
    def __init__(self, project: str, prefix: str) -> None:
        self.project = project
        self.prefix = prefix


class Identities(pulumi.ComponentResource):
    functions: dict[str, gcp.serviceaccount.Account]  # by function name
    scheduler: gcp.serviceaccount.Account  # Cloud Scheduler's OIDC identity
    pubsub_push: gcp.serviceaccount.Account  # the push subscription's OIDC identity
    builder: gcp.serviceaccount.Account

    def __init__(
        self, name: str, args: IdentitiesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("beacon:infra:Identities", name, None, opts)
        self._args = args

        self.functions = {
            spec.name: self._account(spec.name, f"Runs the {spec.name} function")
            for spec in FUNCTIONS
        }
        self.scheduler = self._account("scheduler", "Cloud Scheduler calling private functions")
        self.pubsub_push = self._account("pubsub-push", "Pub/Sub pushing events to load")
        self.builder = self._account("build", "Cloud Build building the function images")
        for role in BUILDER_ROLES:
            gcp.projects.IAMMember(
                f"{name}-build-{role.split('/')[1]}",
                project=args.project,
                role=role,
                member=self.builder.member,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"functions": {fn: sa.email for fn, sa in self.functions.items()}})

    def _account(self, role_name: str, display_name: str) -> gcp.serviceaccount.Account:
        return gcp.serviceaccount.Account(
            f"{self._args.prefix}-{role_name}-sa",
            project=self._args.project,
            account_id=f"{self._args.prefix}-{role_name}"[:30],
            display_name=f"Beacon: {display_name}",
            opts=pulumi.ResourceOptions(parent=self),
        )
