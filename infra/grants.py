"""Give each function's service account exactly the roles infra/access.py lists, narrowly."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.access import DATA_EDITOR, PUBLISHER, SECRET_ACCESSOR, access_for
from infra.identities import Identities
from infra.messaging import Messaging
from infra.secrets import Secrets
from infra.warehouse import Warehouse


class GrantsArgs:
    def __init__(
        self,
        project: str,
        identities: Identities,
        warehouse: Warehouse,
        messaging: Messaging,
        secrets: Secrets,
    ) -> None:
        self.project = project
        self.identities = identities
        self.warehouse = warehouse
        self.messaging = messaging
        self.secrets = secrets


class Grants(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: GrantsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("beacon:infra:Grants", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        dataset = args.warehouse.dataset
        members: dict[str, pulumi.Output[str]] = {}
        for function, account in args.identities.functions.items():
            access = access_for(function)
            member = account.member
            members[function] = member
            if access.publishes_events:
                gcp.pubsub.TopicIAMMember(
                    f"{function}-publish-events",
                    project=args.project,
                    topic=args.messaging.topic.name,
                    role=PUBLISHER,
                    member=member,
                    opts=child,
                )
            if access.dataset_role:
                gcp.bigquery.DatasetIamMember(
                    f"{function}-dataset-{access.dataset_role.split('.')[-1]}",
                    project=args.project,
                    dataset_id=dataset.dataset_id,
                    role=access.dataset_role,
                    member=member,
                    opts=child,
                )
            for table_name in access.writes_tables:
                table = args.warehouse.tables.get(table_name)
                if table is None:  # the table is not in the catalogue (yet): nothing to grant
                    continue
                gcp.bigquery.IamMember(
                    f"{function}-table-{table_name}-dataEditor",
                    project=args.project,
                    dataset_id=dataset.dataset_id,
                    table_id=table.table_id,
                    role=DATA_EDITOR,
                    member=member,
                    opts=child,
                )
            for role in access.project_roles:
                gcp.projects.IAMMember(
                    f"{function}-project-{role.split('.')[-1]}",
                    project=args.project,
                    role=role,
                    member=member,
                    opts=child,
                )
            for key in access.secrets:
                secret = args.secrets.secrets.get(key)
                if secret is None:  # an optional secret left unset (the SMTP password)
                    continue
                gcp.secretmanager.SecretIamMember(
                    f"{function}-secret-{key}",
                    project=args.project,
                    secret_id=secret.secret_id,
                    role=SECRET_ACCESSOR,
                    member=member,
                    opts=child,
                )
        self.register_outputs({"members": members})
