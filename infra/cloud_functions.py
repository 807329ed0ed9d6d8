"""The five Cloud Functions (2nd gen), their source archives, and who may call them.

Ingest and query are public (allUsers may invoke; they check write keys and admin tokens
themselves); the others accept only the scheduler's or the push subscription's OIDC tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

from functions.registry import FUNCTIONS, FunctionSpec
from functions.schedules import SCHEDULES
from infra.access import INVOKER, SECRET_VARIABLES, access_for
from infra.archive import REPO_ROOT, build_archive, write_archive
from infra.config import InfraConfig
from infra.environment import function_environment
from infra.identities import Identities
from infra.secrets import Secrets

RUNTIME = "python312"
ARCHIVE_DIR = REPO_ROOT / "build" / "function-sources"  # git-ignored


@dataclass(frozen=True)
class Profile:
    memory: str
    timeout_seconds: int
    max_instances: int | None = None  # None: the configured maxInstances


# rollup and alerts run one at a time: a second concurrent rollup or alert check only races.
PROFILES = {
    "ingest": Profile("256Mi", 30),
    "load": Profile("512Mi", 300),
    "query": Profile("512Mi", 60),
    "rollup": Profile("1Gi", 540, max_instances=1),
    "alerts": Profile("256Mi", 120, max_instances=1),
}


class CloudFunctionsArgs:
    def __init__(
        self,
        config: InfraConfig,
        identities: Identities,
        secrets: Secrets,
        depends_on: list[pulumi.Resource],
        archive_dir: Path = ARCHIVE_DIR,
    ) -> None:
        self.config = config
        self.identities = identities
        self.secrets = secrets
        self.depends_on = depends_on  # the grants: deploys check the secret access
        self.archive_dir = archive_dir


class CloudFunctions(pulumi.ComponentResource):
    bucket: gcp.storage.Bucket
    functions: dict[str, gcp.cloudfunctionsv2.Function]
    urls: dict[str, pulumi.Output[str]]  # the Cloud Run URL each function answers on

    def __init__(
        self, name: str, args: CloudFunctionsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("beacon:infra:CloudFunctions", name, None, opts)
        self._args = args
        cfg = args.config
        self.bucket = gcp.storage.Bucket(
            f"{name}-sources",
            project=cfg.project,
            location=cfg.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=True,  # holds only rebuildable archives
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.functions = {}
        self.urls = {}
        # query first: alerts links its mails to the dashboard the query function serves.
        ordered = sorted(FUNCTIONS, key=lambda spec: spec.name != "query")
        for spec in ordered:
            dashboard_url = (
                self.urls["query"].apply(lambda url: f"{url}/") if "query" in self.urls else ""
            )
            function = self._function(name, spec, dashboard_url)
            self.functions[spec.name] = function
            self.urls[spec.name] = function.service_config.apply(
                lambda config: config.uri if config and config.uri else ""
            )
        self._invokers(name)
        self.register_outputs({"urls": self.urls})

    def _function(
        self, name: str, spec: FunctionSpec, dashboard_url: pulumi.Input[str]
    ) -> gcp.cloudfunctionsv2.Function:
        cfg = self._args.config
        child = pulumi.ResourceOptions(parent=self)
        archive = build_archive(spec)
        source = gcp.storage.BucketObject(
            f"{name}-{spec.name}-source",
            bucket=self.bucket.name,
            # Content-addressed: unchanged code keeps the object, so the function is not rebuilt.
            name=archive.object_name,
            source=pulumi.FileAsset(str(write_archive(archive, self._args.archive_dir))),
            opts=child,
        )
        profile = PROFILES.get(spec.name, Profile("256Mi", 60))
        secrets = [
            gcp.cloudfunctionsv2.FunctionServiceConfigSecretEnvironmentVariableArgs(
                key=SECRET_VARIABLES[key],
                project_id=cfg.project,
                secret=self._args.secrets.secrets[key].secret_id,
                version="latest",
            )
            for key in access_for(spec.name).secrets
            if key in self._args.secrets.secrets
        ]
        return gcp.cloudfunctionsv2.Function(
            f"{name}-{spec.name}",
            project=cfg.project,
            location=cfg.region,
            name=f"{cfg.prefix}-{spec.name}",
            description=f"Beacon {spec.name} ({spec.module}.{spec.entry_point})",
            build_config=gcp.cloudfunctionsv2.FunctionBuildConfigArgs(
                runtime=RUNTIME,
                entry_point=spec.entry_point,
                service_account=self._args.identities.builder.id,
                source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceArgs(
                    storage_source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceStorageSourceArgs(
                        bucket=self.bucket.name, object=source.name
                    )
                ),
            ),
            service_config=gcp.cloudfunctionsv2.FunctionServiceConfigArgs(
                available_memory=profile.memory,
                timeout_seconds=profile.timeout_seconds,
                min_instance_count=0,
                max_instance_count=profile.max_instances or cfg.max_instances,
                ingress_settings="ALLOW_ALL",  # callers are outside: IAM decides, not the network
                all_traffic_on_latest_revision=True,
                service_account_email=self._args.identities.functions[spec.name].email,
                environment_variables=function_environment(spec.name, cfg, dashboard_url),
                secret_environment_variables=secrets or None,
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*self._args.depends_on, *self._args.secrets.versions.values()],
            ),
        )

    def _invokers(self, name: str) -> None:
        """run.invoker on each function's Cloud Run service: the public, or its callers only."""
        identities = self._args.identities
        scheduled = {job.function for job in SCHEDULES}
        for spec in FUNCTIONS:
            members: list[tuple[str, pulumi.Input[str]]] = []
            if spec.public:
                members.append(("public", "allUsers"))
            if spec.name == "load":
                members.append(("pubsub-push", identities.pubsub_push.member))
            if spec.name in scheduled:
                members.append(("scheduler", identities.scheduler.member))
            function = self.functions[spec.name]
            for caller, member in members:
                gcp.cloudrunv2.ServiceIamMember(
                    f"{name}-{spec.name}-invoker-{caller}",
                    project=self._args.config.project,
                    location=function.location,
                    name=function.name,  # a 2nd-gen function's Cloud Run service has its name
                    role=INVOKER,
                    member=member,
                    opts=pulumi.ResourceOptions(parent=self),
                )
