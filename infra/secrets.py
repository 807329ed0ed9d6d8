"""Secret Manager secrets for the write keys, admin tokens and SMTP password.

Values come from `pulumi config set --secret` (kept encrypted in the stack) and are written as
secret versions; functions read them through secret environment variables, never plain ones.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp


class SecretsArgs:
    def __init__(self, project: str, prefix: str, values: dict[str, pulumi.Output[str]]) -> None:
        self.project = project
        self.prefix = prefix
        self.values = values  # key (see infra.access.SECRET_VARIABLES) -> secret value


class Secrets(pulumi.ComponentResource):
    secrets: dict[str, gcp.secretmanager.Secret]  # by key
    versions: dict[str, gcp.secretmanager.SecretVersion]

    def __init__(
        self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("beacon:infra:Secrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.secrets = {}
        self.versions = {}
        for key, value in sorted(args.values.items()):
            secret = gcp.secretmanager.Secret(
                f"{name}-{key}",
                project=args.project,
                secret_id=f"{args.prefix}-{key}",
                replication=gcp.secretmanager.SecretReplicationArgs(
                    auto=gcp.secretmanager.SecretReplicationAutoArgs()
                ),
                opts=child,
            )
            self.secrets[key] = secret
            self.versions[key] = gcp.secretmanager.SecretVersion(
                f"{name}-{key}-version",
                secret=secret.id,
                secret_data=value,  # already a secret Output: stays encrypted in the state
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"secrets": sorted(self.secrets)})
