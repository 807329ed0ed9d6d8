"""PubSubPublisher against Google's real Pub/Sub emulator, read back with a SubscriberClient."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Iterator

import pytest
from google.cloud import pubsub_v1

from functions.bus import BusUnavailable, Message
from functions.bus.pubsub import PubSubPublisher
from functions.envelope import Envelope
from functions.settings import Settings, SettingsError

# Fixtures pubsub_emulator (one per session), pubsub_host, private_pubsub_emulator.
pytest_plugins = ["tests.support.pubsub_emulator"]

PROJECT = "beacon-test"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def topic_path(topic: str) -> str:
    return f"projects/{PROJECT}/topics/{topic}"


def subscription_path(name: str) -> str:
    return f"projects/{PROJECT}/subscriptions/{name}"


@pytest.fixture
def admin(
    pubsub_host: str,
) -> Iterator[tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient]]:
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    yield publisher, subscriber
    subscriber.close()


def make_topic(admin, *, dead_letter_topic: str | None = None) -> tuple[str, str]:
    """Create a topic with one pull subscription; return (topic name, subscription path)."""
    publisher, subscriber = admin
    topic = unique("events")
    publisher.create_topic(name=topic_path(topic))
    subscription = subscription_path(unique("load"))
    request: dict[str, object] = {
        "name": subscription,
        "topic": topic_path(topic),
        "ack_deadline_seconds": 10,
    }
    if dead_letter_topic is not None:
        request["dead_letter_policy"] = {
            "dead_letter_topic": topic_path(dead_letter_topic),
            "max_delivery_attempts": 5,
        }
    subscriber.create_subscription(request=request)
    return topic, subscription


def pull(subscriber, subscription: str, count: int, timeout: float = 10.0) -> list:
    """Pull until `count` messages arrived or the timeout passed (pull may return fewer)."""
    received: list = []
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        response = subscriber.pull(
            request={"subscription": subscription, "max_messages": count - len(received)},
            timeout=5,
        )
        received.extend(response.received_messages)
    return received


def pull_now(subscriber, subscription: str) -> list:
    """One pull that answers at once (the emulator holds an empty pull open for about 4 s)."""
    with warnings.catch_warnings():
        # Deprecated for Pub/Sub itself, but the emulator honours it, which saves 4 s a pull.
        warnings.filterwarnings("ignore", "The return_immediately flag", DeprecationWarning)
        response = subscriber.pull(
            request={"subscription": subscription, "max_messages": 10, "return_immediately": True},
            timeout=5,
        )
    return list(response.received_messages)


def envelope(n: int) -> Envelope:
    return Envelope(
        kind="events",
        source="web",
        request_id=f"req-{n}",
        received_at="2024-05-01T12:00:00Z",
        sent_at=None,
        records=[{"event_id": f"ev-{n}", "event_type": "page_view"}],
    )


@pytest.mark.emulator
def test_published_envelopes_arrive_with_their_data_and_attributes(admin):
    topic, subscription = make_topic(admin)
    publisher = PubSubPublisher(PROJECT, topic)
    messages = [envelope(n).to_message() for n in range(3)]

    ids = publisher.publish(messages)
    received = pull(admin[1], subscription, 3)
    publisher.close()

    assert len(set(ids)) == 3
    by_id = {r.message.message_id: r.message for r in received}
    assert set(by_id) == set(ids)
    for message_id, sent in zip(ids, messages, strict=True):
        assert by_id[message_id].data == sent.data
        assert dict(by_id[message_id].attributes) == dict(sent.attributes)
    assert Envelope.from_message(by_id[ids[0]].data).records == envelope(0).records


@pytest.mark.emulator
def test_the_client_is_created_once_and_reused_across_publishes(admin):
    topic, subscription = make_topic(admin)
    publisher = PubSubPublisher(PROJECT, topic)

    publisher.publish([Message(b"one", {"kind": "events"})])
    client = publisher._client
    publisher.publish([Message(b"two", {"kind": "events"})])

    assert client is not None and publisher._client is client
    assert sorted(r.message.data for r in pull(admin[1], subscription, 2)) == [b"one", b"two"]
    publisher.close()


@pytest.mark.emulator
def test_nacks_raise_delivery_attempt_until_the_dead_letter_topic_takes_the_message(admin):
    publisher_admin, subscriber = admin
    dead_topic = unique("dead")
    publisher_admin.create_topic(name=topic_path(dead_topic))
    dead_subscription = subscription_path(unique("dead-sub"))
    subscriber.create_subscription(name=dead_subscription, topic=topic_path(dead_topic))
    topic, subscription = make_topic(admin, dead_letter_topic=dead_topic)
    publisher = PubSubPublisher(PROJECT, topic)
    publisher.publish([Message(b"poison", {"kind": "events"})])

    attempts = []
    for _ in range(5):
        (received,) = pull(subscriber, subscription, 1)
        attempts.append(received.delivery_attempt)
        subscriber.modify_ack_deadline(  # a nack: redeliver now
            request={
                "subscription": subscription,
                "ack_ids": [received.ack_id],
                "ack_deadline_seconds": 0,
            }
        )
    # The emulator (Cloud SDK 528) forwards to the dead-letter topic, as Pub/Sub does, but
    # lazily: when the source subscription is next pulled after the last allowed attempt.
    # Pub/Sub itself forwards on its own; so this pull comes first and must find nothing.
    after_last_attempt = pull_now(subscriber, subscription)
    forwarded = pull(subscriber, dead_subscription, 1)
    publisher.close()

    assert attempts == [1, 2, 3, 4, 5]
    assert after_last_attempt == []
    assert [r.message.data for r in forwarded] == [b"poison"]
    assert forwarded[0].message.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"


@pytest.mark.emulator
def test_publishing_to_a_missing_topic_raises_bus_unavailable_within_the_timeout(pubsub_host):
    publisher = PubSubPublisher(PROJECT, unique("missing"), publish_timeout=3.0)
    started = time.monotonic()

    with pytest.raises(BusUnavailable, match=r"(?i)not found"):
        publisher.publish([Message(b"lost?", {"kind": "events"})])

    assert time.monotonic() - started < 3.0 + 2.0
    publisher.close()


@pytest.mark.emulator
def test_publishing_after_the_emulator_stops_raises_bus_unavailable_within_the_timeout(
    private_pubsub_emulator, monkeypatch: pytest.MonkeyPatch
):
    # Its own emulator: stopping the session's one would break the other tests.
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", private_pubsub_emulator.host)
    topic = unique("events")
    pubsub_v1.PublisherClient().create_topic(name=topic_path(topic))
    publisher = PubSubPublisher(PROJECT, topic, publish_timeout=2.0)
    assert len(publisher.publish([Message(b"before", {"kind": "events"})])) == 1
    private_pubsub_emulator.stop()
    started = time.monotonic()

    with pytest.raises(BusUnavailable):
        publisher.publish([Message(b"after", {"kind": "events"})])

    assert time.monotonic() - started < 2.0 + 2.0
    publisher.close()


def test_publishing_nothing_needs_no_client():
    publisher = PubSubPublisher(PROJECT, "beacon-events")

    assert publisher.publish([]) == []
    assert publisher._client is None


def test_from_settings_takes_project_and_topic_and_requires_a_project():
    settings = Settings.from_env({"BEACON_GCP_PROJECT": "acme", "BEACON_TOPIC": "clicks"})

    assert PubSubPublisher.from_settings(settings).topic_path == "projects/acme/topics/clicks"
    with pytest.raises(SettingsError, match="BEACON_GCP_PROJECT"):
        PubSubPublisher.from_settings(Settings.from_env({}))
