"""The Pulumi program's policies, checked against Pulumi's mocks (no cloud, no CLI).

One deployment is run per module (the `deployed` fixture) and every resource the program
registers is recorded with its inputs; the tests assert the security and data policies on
those records, and on resource outputs through `Output.all(...).apply`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pulumi
import pytest

# pulumi_gcp warns about its own deprecated aliases when the mocks load every module.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PROJECT = "beacon-test"
SECRET_VALUES = {
    "beacon:writeKeys": "web:wk-SECRET-1,ios:wk-SECRET-2",
    "beacon:adminTokens": "at-SECRET-3",
    "beacon:smtpPassword": "smtp-SECRET-4",
}
CONFIG = {
    "gcp:project": PROJECT,
    "gcp:region": "europe-west1",
    "beacon:retentionDays": "400",
    "beacon:rollupRetentionDays": "1000",
    "beacon:billingAccount": "000000-111111-222222",
    "beacon:alertRecipients": "ops@example.com,cto@example.com",
    "beacon:maxDeliveryAttempts": "7",
    "beacon:errorRateThreshold": "0.02",
    "beacon:latencyP95Ms": "800",
    **SECRET_VALUES,
}


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs as outputs, add the outputs Google computes, and remember every resource."""

    def __init__(self) -> None:
        self.resources: list[Registered] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs)))
        outputs = dict(args.inputs)
        resource_id = f"{args.name}-id"
        if args.typ == "gcp:serviceaccount/account:Account":
            email = f"{args.inputs['accountId']}@{PROJECT}.iam.gserviceaccount.com"
            resource_id = f"projects/{PROJECT}/serviceAccounts/{email}"
            outputs |= {"email": email, "member": f"serviceAccount:{email}", "name": resource_id}
        elif args.typ == "gcp:cloudfunctionsv2/function:Function":
            uri = f"https://{args.inputs['name']}-abc123-ew.a.run.app"
            outputs["serviceConfig"] = {**args.inputs.get("serviceConfig", {}), "uri": uri}
        elif args.typ == "gcp:pubsub/topic:Topic":
            resource_id = f"projects/{PROJECT}/topics/{args.inputs['name']}"
        elif args.typ == "gcp:secretmanager/secret:Secret":
            resource_id = f"projects/{PROJECT}/secrets/{args.inputs['secretId']}"
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "gcp:organizations/getProject:getProject":
            return {"projectId": PROJECT, "number": "123456789012"}
        return {}


MOCKS = RecordingMocks()
pulumi.runtime.set_mocks(MOCKS, project="beacon", stack="test", preview=False)
pulumi.runtime.set_all_config(CONFIG, secret_keys=list(SECRET_VALUES))

from functions.catalogue import tables as catalogue_tables  # noqa: E402
from functions.registry import FUNCTIONS  # noqa: E402
from functions.schedules import SCHEDULES  # noqa: E402
from infra.program import Pipeline, build  # noqa: E402


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    built: list[Pipeline] = []

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        built.append(build())
        return pulumi.Output.all(*built[0].functions.urls.values())

    run()  # returns once every resource registration has completed
    yield built[0]


def of_type(typ: str) -> list[Registered]:
    return [r for r in MOCKS.resources if r.typ == typ]


def url_of(function: str) -> str:
    return f"https://beacon-{function}-abc123-ew.a.run.app"


def account(name: str) -> str:
    return f"serviceAccount:beacon-{name}@{PROJECT}.iam.gserviceaccount.com"


PUBSUB_AGENT = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"


def bindings_by_member() -> dict[str, set[tuple[str, str, str]]]:
    """member -> {(kind of resource, which one, role)} over every IAM binding the program makes."""
    targets = {
        "gcp:projects/iAMMember:IAMMember": ("project", lambda i: i["project"]),
        "gcp:bigquery/datasetIamMember:DatasetIamMember": ("dataset", lambda i: i["datasetId"]),
        "gcp:bigquery/iamMember:IamMember": ("table", lambda i: i["tableId"]),
        "gcp:pubsub/topicIAMMember:TopicIAMMember": ("topic", lambda i: i["topic"]),
        "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": (
            "subscription",
            lambda i: i["subscription"],
        ),
        "gcp:secretmanager/secretIamMember:SecretIamMember": ("secret", lambda i: i["secretId"]),
        "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": ("service", lambda i: i["name"]),
        "gcp:serviceaccount/iAMMember:IAMMember": (
            "account",
            lambda i: i["serviceAccountId"].rsplit("/", 1)[-1],
        ),
    }
    bindings: dict[str, set[tuple[str, str, str]]] = {}
    for resource in MOCKS.resources:
        if resource.typ in targets:
            kind, target = targets[resource.typ]
            member = resource.inputs["member"]
            bindings.setdefault(member, set()).add(
                (kind, target(resource.inputs), resource.inputs["role"])
            )
    return bindings


def test_each_function_account_holds_exactly_its_roles(deployed: Pipeline) -> None:
    bindings = bindings_by_member()
    expected = {
        "ingest": {
            ("topic", "beacon-events", "roles/pubsub.publisher"),
            ("secret", "beacon-write-keys", "roles/secretmanager.secretAccessor"),
        },
        "load": {
            ("dataset", "beacon", "roles/bigquery.dataEditor"),
            ("project", PROJECT, "roles/bigquery.jobUser"),
        },
        "rollup": {
            ("dataset", "beacon", "roles/bigquery.dataEditor"),
            ("project", PROJECT, "roles/bigquery.jobUser"),
        },
        "query": {
            ("dataset", "beacon", "roles/bigquery.dataViewer"),
            ("table", "query_costs", "roles/bigquery.dataEditor"),
            ("project", PROJECT, "roles/bigquery.jobUser"),
            ("secret", "beacon-admin-tokens", "roles/secretmanager.secretAccessor"),
        },
        "alerts": {
            ("dataset", "beacon", "roles/bigquery.dataViewer"),
            ("table", "alerts_log", "roles/bigquery.dataEditor"),
            ("project", PROJECT, "roles/bigquery.jobUser"),
            ("project", PROJECT, "roles/bigquery.resourceViewer"),
            ("secret", "beacon-smtp-password", "roles/secretmanager.secretAccessor"),
        },
    }
    assert {spec.name for spec in FUNCTIONS} == set(expected)
    for function, roles in expected.items():
        assert bindings[account(function)] == roles, function


def test_callers_hold_only_run_invoker_on_the_functions_they_call(deployed: Pipeline) -> None:
    bindings = bindings_by_member()
    assert bindings[account("scheduler")] == {
        ("service", "beacon-rollup", "roles/run.invoker"),
        ("service", "beacon-alerts", "roles/run.invoker"),
    }
    assert bindings[account("pubsub-push")] == {("service", "beacon-load", "roles/run.invoker")}
    assert bindings[PUBSUB_AGENT] == {
        ("topic", "beacon-events-dead-letter", "roles/pubsub.publisher"),
        ("subscription", "beacon-events-load", "roles/pubsub.subscriber"),
        (
            "account",
            "beacon-pubsub-push@beacon-test.iam.gserviceaccount.com",
            "roles/iam.serviceAccountTokenCreator",
        ),
    }


def test_no_function_but_ingest_and_query_allows_unauthenticated_calls(deployed: Pipeline) -> None:
    public = {
        target
        for member in ("allUsers", "allAuthenticatedUsers")
        for _, target, _ in bindings_by_member().get(member, set())
    }
    assert public == {"beacon-ingest", "beacon-query"}
    assert public == {f"beacon-{spec.name}" for spec in FUNCTIONS if spec.public}


def test_each_function_runs_as_its_own_account(deployed: Pipeline) -> None:
    functions = of_type("gcp:cloudfunctionsv2/function:Function")
    assert {f.inputs["name"] for f in functions} == {f"beacon-{s.name}" for s in FUNCTIONS}
    for function in functions:
        name = function.inputs["name"].removeprefix("beacon-")
        config = function.inputs["serviceConfig"]
        assert config["serviceAccountEmail"] == account(name).removeprefix("serviceAccount:")
        assert config["environmentVariables"]["BEACON_BACKEND"] == "gcp"
        assert config["environmentVariables"]["BEACON_GCP_PROJECT"] == PROJECT
        assert function.inputs["buildConfig"]["runtime"].startswith("python3")
        assert function.inputs["buildConfig"]["entryPoint"] == name


def test_ingest_trusts_exactly_googles_front_end_for_the_client_address(
    deployed: Pipeline,
) -> None:
    trusted = {
        f.inputs["name"]: f.inputs["serviceConfig"]["environmentVariables"].get(
            "BEACON_TRUSTED_PROXIES"
        )
        for f in of_type("gcp:cloudfunctionsv2/function:Function")
    }
    assert trusted.pop("beacon-ingest") == "1"
    assert set(trusted.values()) == {None}


def test_each_function_gets_exactly_the_declared_settings_it_reads(deployed: Pipeline) -> None:
    from functions.settings import Settings, declarations

    defaults = Settings()
    for function in of_type("gcp:cloudfunctionsv2/function:Function"):
        name = function.inputs["name"].removeprefix("beacon-")
        config = function.inputs["serviceConfig"]
        plain = config["environmentVariables"]
        secret = {entry["key"] for entry in config.get("secretEnvironmentVariables") or []}
        wanted = {d.env[0] for d in declarations().values() if name in d.read_by}
        assert set(plain) | secret == wanted, name
        assert secret == {
            d.env[0] for d in declarations().values() if d.secret and name in d.read_by
        }
    alerts = next(
        f.inputs["serviceConfig"]["environmentVariables"]
        for f in of_type("gcp:cloudfunctionsv2/function:Function")
        if f.inputs["name"] == "beacon-alerts"
    )
    # Alert thresholds come from their config keys, or else their one declared default.
    assert alerts["BEACON_ERROR_RATE_THRESHOLD"] == "0.02"
    assert float(alerts["BEACON_LATENCY_P95_MS"]) == 800
    assert alerts["BEACON_REVENUE_DROP"] == str(defaults.revenue_drop_threshold)
    assert alerts["BEACON_SMTP_SECURITY"] == defaults.smtp_security == "starttls"
    assert alerts["BEACON_ALERT_RECIPIENTS"] == "ops@example.com,cto@example.com"


def test_secrets_reach_functions_only_as_secret_environment_variables(deployed: Pipeline) -> None:
    secret_variables = {}
    for function in of_type("gcp:cloudfunctionsv2/function:Function"):
        config = function.inputs["serviceConfig"]
        plain = config["environmentVariables"]
        assert not {"BEACON_WRITE_KEYS", "BEACON_ADMIN_TOKENS", "BEACON_SMTP_PASSWORD"} & set(plain)
        for entry in config.get("secretEnvironmentVariables") or []:
            secret_variables[entry["key"]] = (
                function.inputs["name"],
                entry["secret"],
                entry["version"],
            )
    assert secret_variables == {
        "BEACON_WRITE_KEYS": ("beacon-ingest", "beacon-write-keys", "latest"),
        "BEACON_ADMIN_TOKENS": ("beacon-query", "beacon-admin-tokens", "latest"),
        "BEACON_SMTP_PASSWORD": ("beacon-alerts", "beacon-smtp-password", "latest"),
    }
    # No secret value appears in any resource's inputs but its Secret Manager version.
    for resource in MOCKS.resources:
        if resource.typ == "gcp:secretmanager/secretVersion:SecretVersion":
            continue
        text = json.dumps(resource.inputs, default=str)
        assert not [v for v in SECRET_VALUES.values() if v in text], resource.name


def test_load_is_fed_by_a_push_subscription_with_bounded_dead_lettering(deployed: Pipeline) -> None:
    subscriptions = {
        s.inputs["name"]: s.inputs for s in of_type("gcp:pubsub/subscription:Subscription")
    }
    push = subscriptions["beacon-events-load"]
    assert push["topic"] == f"projects/{PROJECT}/topics/beacon-events"
    assert push["pushConfig"]["pushEndpoint"] == url_of("load")
    assert push["pushConfig"]["oidcToken"] == {
        "serviceAccountEmail": f"beacon-pubsub-push@{PROJECT}.iam.gserviceaccount.com",
        "audience": url_of("load"),
    }
    assert push["deadLetterPolicy"] == {
        "deadLetterTopic": f"projects/{PROJECT}/topics/beacon-events-dead-letter",
        "maxDeliveryAttempts": 7,
    }
    assert push["retryPolicy"]["minimumBackoff"] == "10s"
    kept = subscriptions["beacon-events-dead-letter-keep"]
    assert kept["topic"] == f"projects/{PROJECT}/topics/beacon-events-dead-letter"
    assert "pushConfig" not in kept  # a pull subscription: dead letters wait to be inspected
    assert kept["messageRetentionDuration"] == "604800s"


def expected_expiration_ms(table: str) -> int | None:
    """The stack's retention_days (400) and rollup retention (1000), by catalogue class."""
    days = {"raw": 400, "rollup": 1000, "keep": None}[catalogue_tables()[table].retention]
    return None if days is None else days * 86_400_000


def test_every_table_of_sql_tables_is_partitioned_and_expires(deployed: Pipeline) -> None:
    tables = {t.inputs["tableId"]: t.inputs for t in of_type("gcp:bigquery/table:Table")}
    assert set(tables) == set(catalogue_tables())
    for name, table in tables.items():
        partitioning = table["timePartitioning"]
        assert partitioning["type"] in {"DAY", "HOUR", "MONTH", "YEAR"}, name
        assert partitioning["field"], name
        assert partitioning.get("expirationMs") == expected_expiration_ms(name), name
        entry = catalogue_tables()[name]
        assert partitioning["field"] == entry.partition_column, name
        assert table.get("requirePartitionFilter", False) == entry.require_partition_filter, name
        assert table.get("clusterings") == (list(entry.clustering) or None), name
        assert table["deletionProtection"] is True, name
    assert tables["events"]["requirePartitionFilter"] is True
    assert tables["bad_events"]["requirePartitionFilter"] is True


def test_local_retention_and_the_pulumi_expiration_agree_for_every_table(
    deployed: Pipeline,
) -> None:
    from functions.rollup.retention import cutoffs
    from functions.settings import Settings

    today = date(2024, 5, 6)
    local = cutoffs(Settings(retention_days=400, rollup_retention_days=1000), today)
    for resource in of_type("gcp:bigquery/table:Table"):
        name = resource.inputs["tableId"]
        expiration = resource.inputs["timePartitioning"].get("expirationMs")
        if name in local:
            assert expiration == (today - local[name]).days * 86_400_000, name
        else:  # never aged out locally: never expires in the cloud either
            assert expiration is None, name
    assert "user_first_seen" not in local


@pulumi.runtime.test
def test_raw_tables_keep_retention_days_through_the_table_outputs(deployed: Pipeline) -> Any:
    events = deployed.warehouse.tables["events"]
    bad_events = deployed.warehouse.tables["bad_events"]

    def check(args: list[Any]) -> None:
        for partitioning, requires_filter in zip(args[0::2], args[1::2], strict=True):
            assert partitioning["expiration_ms"] == 400 * 86_400_000
            assert requires_filter is True

    return pulumi.Output.all(
        events.time_partitioning,
        events.require_partition_filter,
        bad_events.time_partitioning,
        bad_events.require_partition_filter,
    ).apply(check)


def ddl_columns(sql: str) -> list[tuple[str, str, bool]]:
    """(name, BigQuery type as written, NOT NULL) of each top-level column, read with sqlglot."""
    import sqlglot
    from sqlglot import exp

    create = sqlglot.parse_one(sql, read="bigquery")
    return [
        (
            column.name,
            column.args["kind"].sql("bigquery"),
            any(isinstance(c.kind, exp.NotNullColumnConstraint) for c in column.constraints),
        )
        for column in create.this.expressions
        if isinstance(column, exp.ColumnDef)
    ]


SCHEMA_TYPE = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}


def test_created_schemas_match_every_column_of_sql_tables(deployed: Pipeline) -> None:
    tables = {t.inputs["tableId"]: t.inputs for t in of_type("gcp:bigquery/table:Table")}
    for name, entry in catalogue_tables().items():
        sql = entry.ddl
        schema = json.loads(tables[name]["schema"])
        created = [(f["name"], f["type"], f["mode"]) for f in schema]
        expected = []
        for column, type_sql, not_null in ddl_columns(sql):
            if type_sql.startswith("ARRAY<"):
                inner = type_sql[len("ARRAY<") : -1]
                expected.append(
                    (
                        column,
                        "RECORD" if inner.startswith("STRUCT") else SCHEMA_TYPE.get(inner, inner),
                        "REPEATED",
                    )
                )
            else:
                base = "RECORD" if type_sql.startswith("STRUCT") else type_sql.split("(")[0]
                expected.append(
                    (column, SCHEMA_TYPE.get(base, base), "REQUIRED" if not_null else "NULLABLE")
                )
        assert created == expected, name


@pulumi.runtime.test
def test_scheduler_jobs_match_schedules_one_to_one(deployed: Pipeline) -> Any:
    jobs = deployed.scheduler.jobs
    assert set(jobs) == {job.name for job in SCHEDULES}

    def check(args: list[Any]) -> None:
        for job, (name, cron, time_zone, target) in zip(
            SCHEDULES, zip(*[iter(args)] * 4, strict=True), strict=True
        ):
            assert name == job.name
            assert cron == job.cron
            assert time_zone == "UTC"
            assert target["http_method"] == "POST"
            assert target["uri"] == url_of(job.function) + job.path
            assert json.loads(base64.b64decode(target["body"])) == job.body
            assert target["oidc_token"] == {
                "service_account_email": f"beacon-scheduler@{PROJECT}.iam.gserviceaccount.com",
                "audience": url_of(job.function),
            }

    outputs = []
    for job in SCHEDULES:
        resource = jobs[job.name]
        outputs += [resource.name, resource.schedule, resource.time_zone, resource.http_target]
    return pulumi.Output.all(*outputs).apply(check)


def test_scheduler_jobs_retry_failed_runs(deployed: Pipeline) -> None:
    for job in of_type("gcp:cloudscheduler/job:Job"):
        assert job.inputs["retryConfig"]["retryCount"] >= 1


def test_budget_mails_the_alert_recipients_when_a_billing_account_is_set(
    deployed: Pipeline,
) -> None:
    (budget,) = of_type("gcp:billing/budget:Budget")
    channels = of_type("gcp:monitoring/notificationChannel:NotificationChannel")
    assert budget.inputs["billingAccount"] == "000000-111111-222222"
    assert budget.inputs["budgetFilter"]["projects"] == ["projects/123456789012"]
    assert {c.inputs["labels"]["email_address"] for c in channels} == {
        "ops@example.com",
        "cto@example.com",
    }
    assert len(budget.inputs["allUpdatesRule"]["monitoringNotificationChannels"]) == 2


def test_functions_deploy_from_content_addressed_archives(deployed: Pipeline) -> None:
    objects = {o.inputs["name"] for o in of_type("gcp:storage/bucketObject:BucketObject")}
    for function in of_type("gcp:cloudfunctionsv2/function:Function"):
        source = function.inputs["buildConfig"]["source"]["storageSource"]
        assert source["object"] in objects
        assert source["object"].startswith(function.inputs["name"].removeprefix("beacon-") + "-")


def test_monitoring_policies_watch_backlog_dead_letters_errors_and_scheduler(
    deployed: Pipeline,
) -> None:
    policies = {p.name: p.inputs for p in of_type("gcp:monitoring/alertPolicy:AlertPolicy")}
    assert sorted(policies) == [
        "monitoring-dead-letters",
        "monitoring-function-errors",
        "monitoring-load-backlog",
        "monitoring-scheduler-failures",
    ]
    channel_ids = {
        f"{c.name}-id" for c in of_type("gcp:monitoring/notificationChannel:NotificationChannel")
    }
    assert len(channel_ids) == 2  # one per alert recipient, shared with the budget
    for inputs in policies.values():
        assert set(inputs["notificationChannels"]) == channel_ids
        assert inputs["documentation"]["content"]

    def threshold(policy: str) -> list[dict[str, Any]]:
        return [c["conditionThreshold"] for c in policies[policy]["conditions"]]

    [backlog] = threshold("monitoring-load-backlog")
    assert "subscription/oldest_unacked_message_age" in backlog["filter"]
    assert 'subscription_id = "beacon-events-load"' in backlog["filter"]
    [dead] = threshold("monitoring-dead-letters")
    assert "num_undelivered_messages" in dead["filter"]
    assert 'subscription_id = "beacon-events-dead-letter-keep"' in dead["filter"]
    assert dead["thresholdValue"] == 0 and dead["comparison"] == "COMPARISON_GT"
    errors = threshold("monitoring-function-errors")
    services = {f"beacon-{name}" for name in ("ingest", "load", "query", "rollup", "alerts")}
    assert {c["filter"].split('service_name = "')[1].split('"')[0] for c in errors} == services
    assert all('response_code_class = "5xx"' in c["filter"] for c in errors)
    [failed] = threshold("monitoring-scheduler-failures")
    (metric,) = of_type("gcp:logging/metric:Metric")
    assert metric.inputs["name"] in failed["filter"]
    assert 'resource.type = "cloud_scheduler_job"' in metric.inputs["filter"]
    assert "severity >= ERROR" in metric.inputs["filter"]


def test_monitoring_dashboard_charts_the_policies_figures(deployed: Pipeline) -> None:
    (board,) = of_type("gcp:monitoring/dashboard:Dashboard")
    layout = json.loads(board.inputs["dashboardJson"])
    tiles = layout["mosaicLayout"]["tiles"]
    titles = [tile["widget"]["title"] for tile in tiles]
    assert len(titles) == 5 and any("backlog" in t.lower() for t in titles)
    filters = [
        d["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
        for tile in tiles
        for d in tile["widget"]["xyChart"]["dataSets"]
    ]
    assert any("beacon-events-dead-letter-keep" in f for f in filters)
    assert all(tile["xPos"] + tile["width"] <= 12 for tile in tiles)
