"""The events topic, and where messages the load function keeps failing on end up."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

DEAD_LETTER_RETENTION = "604800s"  # 7 days, Pub/Sub's maximum, to inspect and replay by hand


class MessagingArgs:
    def __init__(self, project: str, topic: str) -> None:
        self.project = project
        self.topic = topic


class Messaging(pulumi.ComponentResource):
    topic: gcp.pubsub.Topic
    dead_letter_topic: gcp.pubsub.Topic
    dead_letter_subscription: gcp.pubsub.Subscription

    def __init__(
        self, name: str, args: MessagingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("beacon:infra:Messaging", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.topic = gcp.pubsub.Topic(
            f"{name}-events",
            project=args.project,
            # No topic retention (billed per GiB stored): the load subscription keeps what is
            # not yet delivered for 7 days, which is what a load outage needs.
            name=args.topic,
            opts=child,
        )
        self.dead_letter_topic = gcp.pubsub.Topic(
            f"{name}-dead-letter",
            project=args.project,
            name=f"{args.topic}-dead-letter",
            opts=child,
        )
        # A pull subscription nobody consumes: it keeps every dead letter for 7 days, so an
        # operator can read them (`gcloud pubsub subscriptions pull`) and republish after a fix.
        self.dead_letter_subscription = gcp.pubsub.Subscription(
            f"{name}-dead-letter-keep",
            project=args.project,
            name=f"{args.topic}-dead-letter-keep",
            topic=self.dead_letter_topic.id,
            message_retention_duration=DEAD_LETTER_RETENTION,
            retain_acked_messages=False,
            ack_deadline_seconds=60,
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),  # never
            opts=child,
        )
        self.register_outputs(
            {
                "topic": self.topic.name,
                "dead_letter_topic": self.dead_letter_topic.name,
                "dead_letter_subscription": self.dead_letter_subscription.name,
            }
        )
