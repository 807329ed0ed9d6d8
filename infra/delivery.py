"""Pub/Sub pushes each events message to the load function, and dead-letters what keeps failing.

Why a push subscription rather than the function's Eventarc trigger (`event_trigger`): Eventarc
creates and owns the trigger's subscription and its API offers no dead-letter policy, so with it a
poison message is retried for the topic's whole retention. Our own push subscription carries a
dead-letter policy with bounded attempts and exponential backoff, and calls the private load
function with an OIDC token of its own service account. functions-framework turns the Pub/Sub
push body into the same CloudEvent Eventarc would deliver, so the load function does not change.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp


class DeliveryArgs:
    def __init__(
        self,
        project: str,
        subscription_name: str,
        topic: gcp.pubsub.Topic,
        dead_letter_topic: gcp.pubsub.Topic,
        load_url: pulumi.Input[str],
        push_account: gcp.serviceaccount.Account,
        max_delivery_attempts: int,
        ack_deadline_seconds: int,
    ) -> None:
        self.project = project
        self.subscription_name = subscription_name
        self.topic = topic
        self.dead_letter_topic = dead_letter_topic
        self.load_url = load_url
        self.push_account = push_account
        self.max_delivery_attempts = max_delivery_attempts
        self.ack_deadline_seconds = ack_deadline_seconds


class Delivery(pulumi.ComponentResource):
    subscription: gcp.pubsub.Subscription

    def __init__(
        self, name: str, args: DeliveryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("beacon:infra:Delivery", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        project_number = gcp.organizations.get_project_output(project_id=args.project).number
        # Pub/Sub's own service agent forwards dead letters and mints the push OIDC tokens.
        agent = project_number.apply(
            lambda number: f"serviceAccount:service-{number}@gcp-sa-pubsub.iam.gserviceaccount.com"
        )
        self.subscription = gcp.pubsub.Subscription(
            f"{name}-load-push",
            project=args.project,
            name=args.subscription_name,
            topic=args.topic.id,
            ack_deadline_seconds=args.ack_deadline_seconds,
            message_retention_duration="604800s",
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),  # never
            push_config=gcp.pubsub.SubscriptionPushConfigArgs(
                push_endpoint=args.load_url,
                oidc_token=gcp.pubsub.SubscriptionPushConfigOidcTokenArgs(
                    service_account_email=args.push_account.email,
                    audience=args.load_url,
                ),
            ),
            retry_policy=gcp.pubsub.SubscriptionRetryPolicyArgs(
                minimum_backoff="10s", maximum_backoff="600s"
            ),
            dead_letter_policy=gcp.pubsub.SubscriptionDeadLetterPolicyArgs(
                dead_letter_topic=args.dead_letter_topic.id,
                max_delivery_attempts=args.max_delivery_attempts,
            ),
            opts=child,
        )
        gcp.pubsub.TopicIAMMember(
            f"{name}-agent-publishes-dead-letters",
            project=args.project,
            topic=args.dead_letter_topic.name,
            role="roles/pubsub.publisher",
            member=agent,
            opts=child,
        )
        gcp.pubsub.SubscriptionIAMMember(
            f"{name}-agent-acks-dead-letters",
            project=args.project,
            subscription=self.subscription.name,
            role="roles/pubsub.subscriber",
            member=agent,
            opts=child,
        )
        # Needed in projects created before April 2021, harmless in newer ones.
        gcp.serviceaccount.IAMMember(
            f"{name}-agent-mints-push-tokens",
            service_account_id=args.push_account.name,
            role="roles/iam.serviceAccountTokenCreator",
            member=agent,
            opts=child,
        )
        self.register_outputs({"subscription": self.subscription.name})
