"""The whole pipeline: wires the components together and exports what clients need."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.budget import Budget, BudgetArgs
from infra.cloud_functions import PROFILES, CloudFunctions, CloudFunctionsArgs
from infra.config import InfraConfig, load_config
from infra.delivery import Delivery, DeliveryArgs
from infra.grants import Grants, GrantsArgs
from infra.identities import Identities, IdentitiesArgs
from infra.messaging import Messaging, MessagingArgs
from infra.monitoring import Monitoring, MonitoringArgs
from infra.scheduler import Scheduler, SchedulerArgs
from infra.secrets import Secrets, SecretsArgs
from infra.services import ProjectServices, ProjectServicesArgs
from infra.warehouse import Warehouse, WarehouseArgs


@dataclass(frozen=True)
class Pipeline:
    config: InfraConfig
    warehouse: Warehouse
    messaging: Messaging
    secrets: Secrets
    identities: Identities
    functions: CloudFunctions
    delivery: Delivery
    scheduler: Scheduler
    monitoring: Monitoring
    budget: Budget | None


def build(config: InfraConfig | None = None) -> Pipeline:
    cfg = config or load_config()
    services = ProjectServices(
        "apis", ProjectServicesArgs(cfg.project, with_budget=cfg.billing_account is not None)
    )
    # Everything else waits for the APIs: a resource created before its API is on fails.
    after_apis = pulumi.ResourceOptions(depends_on=[services])
    identities = Identities("identities", IdentitiesArgs(cfg.project, cfg.prefix), after_apis)
    warehouse = Warehouse(
        "warehouse",
        WarehouseArgs(
            cfg.project,
            cfg.app.dataset,
            cfg.app.bigquery_location,
            cfg.app.retention_days,
            cfg.app.rollup_retention_days,
            cfg.deletion_protection,
        ),
        after_apis,
    )
    messaging = Messaging("messaging", MessagingArgs(cfg.project, cfg.app.topic), after_apis)
    secret_values = {"write-keys": cfg.write_keys, "admin-tokens": cfg.admin_tokens}
    if cfg.smtp_password is not None:
        secret_values["smtp-password"] = cfg.smtp_password
    secrets = Secrets("secrets", SecretsArgs(cfg.project, cfg.prefix, secret_values), after_apis)
    grants = Grants(
        "grants", GrantsArgs(cfg.project, identities, warehouse, messaging, secrets), after_apis
    )
    functions = CloudFunctions(
        "functions",
        CloudFunctionsArgs(cfg, identities, secrets, depends_on=[grants, warehouse]),
        after_apis,
    )
    load_subscription = f"{cfg.app.topic}-load"
    delivery = Delivery(
        "delivery",
        DeliveryArgs(
            project=cfg.project,
            subscription_name=load_subscription,
            topic=messaging.topic,
            dead_letter_topic=messaging.dead_letter_topic,
            load_url=functions.urls["load"],
            push_account=identities.pubsub_push,
            max_delivery_attempts=cfg.max_delivery_attempts,
            # Pub/Sub waits this long for load's answer before redelivering (600 s at most).
            ack_deadline_seconds=min(600, PROFILES["load"].timeout_seconds),
        ),
        after_apis,
    )
    scheduler = Scheduler(
        "scheduler",
        SchedulerArgs(
            cfg.project,
            cfg.region,
            functions.urls,
            identities.scheduler,
            {name: profile.timeout_seconds for name, profile in PROFILES.items()},
        ),
        after_apis,
    )
    monitoring = Monitoring(
        "monitoring",
        MonitoringArgs(
            cfg.project,
            cfg.prefix,
            cfg.app.alert_recipients,
            load_subscription,
            messaging.dead_letter_subscription.name,
        ),
        after_apis,
    )
    budget = None
    if cfg.billing_account:
        budget = Budget(
            "budget",
            BudgetArgs(
                cfg.project,
                cfg.billing_account,
                cfg.app.daily_budget_usd,
                [channel.id for channel in monitoring.channels],
            ),
            after_apis,
        )
    pulumi.export("ingest_url", functions.urls["ingest"])
    pulumi.export("dashboard_url", functions.urls["query"].apply(lambda url: f"{url}/"))
    pulumi.export("dataset", warehouse.dataset.dataset_id)
    pulumi.export("topic", messaging.topic.name)
    pulumi.export("dead_letter_subscription", messaging.dead_letter_subscription.name)
    return Pipeline(
        cfg,
        warehouse,
        messaging,
        secrets,
        identities,
        functions,
        delivery,
        scheduler,
        monitoring,
        budget,
    )
