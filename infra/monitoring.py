"""Cloud Monitoring: alert policies on what stops events from becoming queryable, mailed to the
alert recipients, and a dashboard of the same figures.

Beacon's own alerts job watches the product (error rate, latency, revenue, cost, silence) from
the warehouse; these policies watch the pipeline from outside it, so they fire also when the
warehouse, the functions or the alerts job itself are down:
- the load is behind: the load subscription's oldest unacked message is older than
  LOAD_BACKLOG_SECONDS (Pub/Sub keeps it 7 days, so this is a delay, not yet a loss);
- messages reached dead letters: the dead-letter keep subscription holds any;
- a function answers 5xx: more than FUNCTION_ERRORS_PER_SECOND over 5 minutes, per function;
- a scheduled job failed: Cloud Scheduler logged a failed attempt (a log-based metric).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_gcp as gcp

from functions.registry import FUNCTIONS

MAX_CHANNELS = 5  # a budget notifies at most five channels; the policies use the same ones
LOAD_BACKLOG_SECONDS = 900
FUNCTION_ERRORS_PER_SECOND = 0.05  # 3 answers of 5xx a minute, sustained for 5 minutes
SCHEDULER_FAILURES_METRIC = "beacon-scheduler-job-failures"
_PUBSUB = 'resource.type = "pubsub_subscription"'
_RUN = 'resource.type = "cloud_run_revision"'


class MonitoringArgs:
    def __init__(
        self,
        project: str,
        prefix: str,
        recipients: Sequence[str],
        load_subscription: pulumi.Input[str],
        dead_letter_subscription: pulumi.Input[str],
    ) -> None:
        self.project = project
        self.prefix = prefix
        self.recipients = tuple(recipients)
        self.load_subscription = load_subscription
        self.dead_letter_subscription = dead_letter_subscription


def _threshold(
    name: str,
    metric_filter: pulumi.Input[str],
    threshold: float,
    *,
    aligner: str,
    duration: str,
    reducer: str | None = None,
    group_by: Sequence[str] = (),
) -> gcp.monitoring.AlertPolicyConditionArgs:
    return gcp.monitoring.AlertPolicyConditionArgs(
        display_name=name,
        condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
            filter=metric_filter,
            comparison="COMPARISON_GT",
            threshold_value=threshold,
            duration=duration,
            aggregations=[
                gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                    alignment_period="300s",
                    per_series_aligner=aligner,
                    cross_series_reducer=reducer,
                    group_by_fields=list(group_by) or None,
                )
            ],
            trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(count=1),
        ),
    )


def subscription_filter(metric: str, subscription: str) -> str:
    return (
        f'metric.type = "pubsub.googleapis.com/subscription/{metric}" AND {_PUBSUB} '
        f'AND resource.labels.subscription_id = "{subscription}"'
    )


def function_errors_filter(service: str) -> str:
    return (
        f'metric.type = "run.googleapis.com/request_count" AND {_RUN} '
        f'AND resource.labels.service_name = "{service}" '
        'AND metric.labels.response_code_class = "5xx"'
    )


SCHEDULER_FAILURES_FILTER = (
    f'metric.type = "logging.googleapis.com/user/{SCHEDULER_FAILURES_METRIC}" '
    'AND resource.type = "cloud_scheduler_job"'
)


class Monitoring(pulumi.ComponentResource):
    channels: list[gcp.monitoring.NotificationChannel]
    policies: dict[str, gcp.monitoring.AlertPolicy]
    dashboard: gcp.monitoring.Dashboard

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("beacon:infra:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.channels = [
            gcp.monitoring.NotificationChannel(
                f"{name}-mail-{index}",
                project=args.project,
                type="email",
                display_name=f"Beacon alerts: {address}",
                labels={"email_address": address},
                opts=child,
            )
            for index, address in enumerate(args.recipients[:MAX_CHANNELS])
        ]
        failures = gcp.logging.Metric(
            f"{name}-scheduler-failures",
            project=args.project,
            name=SCHEDULER_FAILURES_METRIC,
            description="Cloud Scheduler attempts of Beacon's jobs that failed",
            filter='resource.type = "cloud_scheduler_job" AND severity >= ERROR',
            metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                metric_kind="DELTA",
                value_type="INT64",
                labels=[
                    gcp.logging.MetricMetricDescriptorLabelArgs(key="job_id", value_type="STRING")
                ],
            ),
            label_extractors={"job_id": "EXTRACT(resource.labels.job_id)"},
            opts=child,
        )
        services = [f"{args.prefix}-{spec.name}" for spec in FUNCTIONS]
        load_backlog = pulumi.Output.from_input(args.load_subscription).apply(
            lambda sub: subscription_filter("oldest_unacked_message_age", sub)
        )
        dead_letters = pulumi.Output.from_input(args.dead_letter_subscription).apply(
            lambda sub: subscription_filter("num_undelivered_messages", sub)
        )
        conditions: dict[str, tuple[str, list[gcp.monitoring.AlertPolicyConditionArgs]]] = {
            "load-backlog": (
                f"Beacon: the load is more than {LOAD_BACKLOG_SECONDS // 60} minutes behind",
                [
                    _threshold(
                        "oldest unacked message age (s)",
                        load_backlog,
                        LOAD_BACKLOG_SECONDS,
                        aligner="ALIGN_MAX",
                        duration="600s",
                    )
                ],
            ),
            "dead-letters": (
                "Beacon: messages in dead letters",
                [
                    _threshold(
                        "undelivered dead letters",
                        dead_letters,
                        0,
                        aligner="ALIGN_MAX",
                        duration="0s",
                    )
                ],
            ),
            "function-errors": (
                "Beacon: a function answers 5xx",
                [
                    _threshold(
                        f"{service} 5xx per second",
                        function_errors_filter(service),
                        FUNCTION_ERRORS_PER_SECOND,
                        aligner="ALIGN_RATE",
                        reducer="REDUCE_SUM",
                        duration="300s",
                    )
                    for service in services
                ],
            ),
            "scheduler-failures": (
                "Beacon: a scheduled job failed",
                [
                    _threshold(
                        "failed scheduler attempts",
                        SCHEDULER_FAILURES_FILTER,
                        0,
                        aligner="ALIGN_SUM",
                        reducer="REDUCE_SUM",
                        group_by=["metric.label.job_id"],
                        duration="0s",
                    )
                ],
            ),
        }
        self.policies = {
            key: gcp.monitoring.AlertPolicy(
                f"{name}-{key}",
                project=args.project,
                display_name=title,
                combiner="OR",
                conditions=condition_list,
                notification_channels=[channel.id for channel in self.channels],
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    content=_RUNBOOK[key], mime_type="text/markdown"
                ),
                alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close="86400s"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[failures]),
            )
            for key, (title, condition_list) in conditions.items()
        }
        self.dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            project=args.project,
            dashboard_json=pulumi.Output.all(load_backlog, dead_letters).apply(
                lambda filters: json.dumps(dashboard(services, filters[0], filters[1]))
            ),
            opts=child,
        )
        self.register_outputs({"policies": sorted(self.policies), "channels": len(self.channels)})


_RUNBOOK = {
    "load-backlog": (
        "Events wait in the load subscription: the load function is failing or too slow. Its "
        "logs say why; Pub/Sub keeps the messages 7 days, so nothing is lost yet."
    ),
    "dead-letters": (
        "The load gave up on messages after every attempt. Read them with `gcloud pubsub "
        "subscriptions pull` on the dead-letter keep subscription, fix, and republish."
    ),
    "function-errors": "A function answers 5xx: its Cloud Run logs hold the traceback.",
    "scheduler-failures": (
        "A Cloud Scheduler job's attempts failed (rollup, retention, alerts or the weekly "
        "report): the job's function logs say why; `beacon jobs run NAME` re-runs it by hand."
    ),
}


def _chart(title: str, metric_filter: str, aligner: str, group_by: Sequence[str] = ()) -> Any:
    aggregation: dict[str, Any] = {"alignmentPeriod": "60s", "perSeriesAligner": aligner}
    if group_by:
        aggregation |= {"crossSeriesReducer": "REDUCE_SUM", "groupByFields": list(group_by)}
    return {
        "title": title,
        "xyChart": {
            "dataSets": [
                {
                    "timeSeriesQuery": {
                        "timeSeriesFilter": {"filter": metric_filter, "aggregation": aggregation}
                    },
                    "plotType": "LINE",
                }
            ]
        },
    }


def dashboard(services: Sequence[str], load_backlog: str, dead_letters: str) -> dict[str, Any]:
    """The Cloud Monitoring dashboard: the policies' figures, and the functions' traffic."""
    in_services = " OR ".join(f'resource.labels.service_name = "{s}"' for s in services)
    requests = f'metric.type = "run.googleapis.com/request_count" AND {_RUN} AND ({in_services})'
    latency = f'metric.type = "run.googleapis.com/request_latencies" AND {_RUN} AND ({in_services})'
    tiles = [
        _chart("Load backlog: oldest unacked message (s)", load_backlog, "ALIGN_MAX"),
        _chart("Dead letters", dead_letters, "ALIGN_MAX"),
        _chart(
            "Requests per second by function and answer",
            requests,
            "ALIGN_RATE",
            ["resource.label.service_name", "metric.label.response_code_class"],
        ),
        _chart(
            "Latency p95 by function (ms)",
            latency,
            "ALIGN_PERCENTILE_95",
        ),
        _chart(
            "Failed scheduler attempts",
            SCHEDULER_FAILURES_FILTER,
            "ALIGN_SUM",
            ["metric.label.job_id"],
        ),
    ]
    width = 6
    return {
        "displayName": "Beacon pipeline",
        "mosaicLayout": {
            "columns": 12,
            "tiles": [
                {
                    "xPos": (index % 2) * width,
                    "yPos": (index // 2) * 4,
                    "width": width,
                    "height": 4,
                    "widget": tile,
                }
                for index, tile in enumerate(tiles)
            ],
        },
    }
