"""The ingest function served by functions-framework on loopback, with its local queue."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import requests

from functions.envelope import Envelope
from functions.local.localqueue import LocalQueue
from tests.support.serve import serve_function

WEB = {"Authorization": "Bearer k1"}


class Server:
    def __init__(self, url: str, queue: LocalQueue) -> None:
        self.url = url
        self.queue = queue

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        if body is not None:
            kwargs["json"] = body
        kwargs.setdefault("headers", WEB)
        return requests.post(self.url + path, timeout=30, **kwargs)

    def post_raw(self, path: str, data: bytes, **headers: str) -> requests.Response:
        sent = {**WEB, "Content-Type": "application/json", **headers}
        return requests.post(self.url + path, data=data, headers=sent, timeout=30)

    def published(self) -> list[Envelope]:
        """Everything published since the last call, oldest first (then acknowledged)."""
        envelopes: list[Envelope] = []
        while messages := self.queue.claim(1000):
            self.queue.ack([m.message_id for m in messages])
            envelopes += [Envelope.from_message(m.data) for m in messages]
        return envelopes

    def records(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(accepted event records, bad_events rows) published since the last call."""
        envelopes = self.published()
        events = [r for e in envelopes if e.kind == "events" for r in e.records]
        bad = [r for e in envelopes if e.kind == "bad_events" for r in e.records]
        return events, bad

    def published_kinds(self) -> dict[str, Envelope]:
        envelopes = self.published()
        by_kind = {e.kind: e for e in envelopes}
        assert len(by_kind) == len(envelopes), "one envelope per kind per request"
        return by_kind


@contextlib.contextmanager
def serve_ingest(data_dir: Path, **env: str) -> Iterator[Server]:
    """Ingest with write keys web:k1 and server:k2, publishing to DATA_DIR's queue."""
    settings: Mapping[str, str] = {
        "BEACON_BACKEND": "local",
        "BEACON_DATA_DIR": str(data_dir),
        "BEACON_WRITE_KEYS": "web:k1,server:k2",
        **env,
    }
    with serve_function("ingest", env=settings) as url:
        queue = LocalQueue(data_dir / "queue.sqlite3")
        try:
            yield Server(url, queue)
        finally:
            queue.close()
