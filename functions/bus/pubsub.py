"""The Publisher for `BEACON_BACKEND=gcp`: Google Cloud Pub/Sub.

With PUBSUB_EMULATOR_HOST set, the client library itself talks to the emulator instead (that is
how the tests run it). The client is created on first publish and reused, so a warm function
instance keeps its gRPC channel and batching thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from concurrent import futures
from typing import Any

import google.cloud.pubsub_v1 as pubsub_v1
from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_retry

from functions.bus import BusUnavailable, Message
from functions.settings import Settings, SettingsError

# The transient errors Pub/Sub's own publish retry treats as retryable.
_RETRYABLE = api_retry.if_exception_type(
    api_exceptions.Aborted,
    api_exceptions.Cancelled,
    api_exceptions.DeadlineExceeded,
    api_exceptions.InternalServerError,
    api_exceptions.ResourceExhausted,
    api_exceptions.ServiceUnavailable,
    api_exceptions.Unknown,
)


class PubSubPublisher:
    def __init__(
        self,
        project: str,
        topic: str,
        *,
        batch_max_messages: int = 100,
        # Ingest waits for every publish before it answers, so a batch held open only adds latency;
        # 1 ms still lets concurrent requests of one instance share an RPC.
        batch_max_latency: float = 0.001,
        publish_timeout: float = 10.0,
    ) -> None:
        if not project or not topic:
            raise ValueError("PubSubPublisher needs a project and a topic")
        self.project = project
        self.topic = topic
        self.topic_path = f"projects/{project}/topics/{topic}"
        self.batch_max_messages = batch_max_messages
        self.batch_max_latency = batch_max_latency
        self.publish_timeout = publish_timeout
        self._lock = threading.Lock()
        self._client: pubsub_v1.PublisherClient | None = None
        self._pid = 0

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> PubSubPublisher:
        if not settings.gcp_project:
            raise SettingsError("BEACON_GCP_PROJECT (or GOOGLE_CLOUD_PROJECT) must be set")
        return cls(settings.gcp_project, settings.topic, **options)

    def _get_client(self) -> pubsub_v1.PublisherClient:
        with self._lock:
            # gRPC channels do not survive fork(): a gunicorn worker makes its own client.
            if self._client is None or self._pid != os.getpid():
                self._client = pubsub_v1.PublisherClient(
                    batch_settings=pubsub_v1.types.BatchSettings(
                        max_messages=self.batch_max_messages,
                        max_latency=self.batch_max_latency,
                    ),
                    publisher_options=pubsub_v1.types.PublisherOptions(
                        # Retry transient errors, but only as long as a caller is waiting:
                        # past that the caller answers 503 and the client retries.
                        retry=api_retry.Retry(predicate=_RETRYABLE, timeout=self.publish_timeout),
                        timeout=self.publish_timeout,
                    ),
                )
                self._pid = os.getpid()
            return self._client

    def publish(self, messages: Sequence[Message]) -> list[str]:
        """Publish every message and wait for all of them, or raise BusUnavailable.

        After a failure, some messages of this call may have been published anyway (Pub/Sub has
        no multi-message transaction). At-least-once still holds: the caller reports failure,
        its client sends again, and the load side de-duplicates on event_id.
        """
        if not messages:
            return []
        deadline = time.monotonic() + self.publish_timeout
        try:
            client = self._get_client()
            pending = [
                client.publish(self.topic_path, m.data, **dict(m.attributes)) for m in messages
            ]
            return [
                str(future.result(timeout=max(0.0, deadline - time.monotonic())))
                for future in pending
            ]
        except futures.TimeoutError as exc:
            raise BusUnavailable(
                f"Pub/Sub {self.topic_path}: no answer within {self.publish_timeout} s"
            ) from exc
        except Exception as exc:
            raise BusUnavailable(f"Pub/Sub {self.topic_path}: {exc}") from exc

    def close(self) -> None:
        """Flush and stop the client; a later publish would open a new one."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._pid == os.getpid():
            client.stop()  # every publish already waited for its futures: nothing is pending
            client.transport.close()
