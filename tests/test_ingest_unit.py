"""Ingest pieces without a server: auth, gzip limits, IPs and the all-or-nothing publish."""

from __future__ import annotations

import base64
import gzip
import io
from collections.abc import Iterator, Sequence

import pytest
from functions_framework import create_app

from functions import runtime
from functions.bad_events import PAYLOAD_LIMIT, truncate_payload
from functions.bus import BusUnavailable, Message
from functions.credentials import match_secret
from functions.envelope import Envelope
from functions.ingest.auth import authenticate, key_from_authorization
from functions.ingest.body import BodyError, gunzip, parse_body, read_body
from functions.ingest.records import client_ip
from functions.registry import function_named
from functions.settings import Settings
from tests.support.serve import REPO

KEYS = {"k1": "web", "k2": "server"}


class RecordingPublisher:
    """A Publisher that keeps every publish call, and can refuse them like a bus that is down."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.calls: list[list[Message]] = []

    def publish(self, messages: Sequence[Message]) -> list[str]:
        self.calls.append(list(messages))
        if self.refuse:
            raise BusUnavailable("bus is down")
        return [str(i) for i in range(len(messages))]

    def close(self) -> None:
        pass


@pytest.fixture
def publisher() -> Iterator[RecordingPublisher]:
    fake = RecordingPublisher()
    runtime.use_settings(Settings(write_keys=KEYS, allowed_origins=("*",)))
    runtime.use_publisher(fake)
    yield fake
    runtime.reset()


def client():  # type: ignore[no-untyped-def]
    spec = function_named("ingest")
    source = REPO / "functions" / "ingest" / "main.py"
    return create_app(spec.entry_point, str(source), "http").test_client()


def test_bearer_basic_and_query_keys_resolve_to_sources() -> None:
    basic = "Basic " + base64.b64encode(b"k2:ignored").decode()
    assert authenticate("Bearer k1", None, KEYS) == "web"
    assert authenticate(basic, None, KEYS) == "server"
    assert authenticate(None, "k2", KEYS) == "server"
    assert authenticate("Bearer k1", "k2", KEYS) == "web"


@pytest.mark.parametrize("header", ["", "Bearer", "Basic !!!", "Digest k1", "Basic " + "a" * 3])
def test_malformed_authorization_gives_no_key(header: str) -> None:
    assert key_from_authorization(header) is None


def test_unknown_or_empty_key_matches_no_source() -> None:
    assert match_secret("k3", KEYS) is None
    assert match_secret("", KEYS) is None
    assert match_secret("k1x", KEYS) is None


def test_gzip_members_are_all_decoded() -> None:
    data = gzip.compress(b'{"a":') + gzip.compress(b"1}")
    assert gunzip(data, 100) == b'{"a":1}'


def test_gzip_output_is_bounded_while_decoding() -> None:
    bomb = gzip.compress(b"0" * 10_000_000)
    with pytest.raises(BodyError) as caught:
        gunzip(bomb, 1000)
    assert (caught.value.status, caught.value.code) == (413, "too_large")
    assert len(caught.value.payload) == 1000


def test_truncated_gzip_is_400() -> None:
    with pytest.raises(BodyError) as caught:
        gunzip(gzip.compress(b"x" * 1000)[:-10], 10_000)
    assert (caught.value.status, caught.value.code) == (400, "invalid_gzip")


def test_unknown_content_encoding_is_415() -> None:
    with pytest.raises(BodyError) as caught:
        read_body(io.BytesIO(b"{}"), 2, "br")
    assert caught.value.status == 415


def test_body_without_length_is_bounded_while_reading() -> None:
    with pytest.raises(BodyError) as caught:
        read_body(io.BytesIO(b"x" * 5000), None, None, limit=4096)
    assert caught.value.status == 413


@pytest.mark.parametrize(
    ("forwarded", "remote", "proxies", "expected"),
    [
        # No proxy trusted: the peer is the client, whatever the header claims.
        ("203.0.113.1", "198.51.100.7", 0, "198.51.100.7"),
        # One proxy (Google's front end) appends the address it saw: the last hop.
        ("6.6.6.6, 203.0.113.1", "10.0.0.1", 1, "203.0.113.1"),
        ("203.0.113.1", "10.0.0.1", 1, "203.0.113.1"),
        # Two proxies: the second from the right; what the client wrote left of it is ignored.
        ("6.6.6.6, 203.0.113.1, 10.1.1.1", "10.0.0.1", 2, "203.0.113.1"),
        # Fewer hops than proxies: the header is not the proxies', take the peer.
        ("", "127.0.0.1", 1, "127.0.0.1"),
        (None, "::1", 1, "::1"),
        # The trusted hop is not an address: no IP rather than a guess.
        ("garbage", "::1", 1, None),
        (None, None, 0, None),
    ],
)
def test_client_ip_counts_trusted_proxies_from_the_right(
    forwarded: str | None, remote: str | None, proxies: int, expected: str | None
) -> None:
    assert client_ip(forwarded, remote, proxies) == expected


def test_payload_is_truncated_to_64_kib_without_splitting_characters() -> None:
    text = truncate_payload("é".encode() * PAYLOAD_LIMIT)
    assert len(text.encode()) == PAYLOAD_LIMIT
    assert set(text) == {"é"}


def test_good_and_bad_events_are_published_in_one_call(publisher: RecordingPublisher) -> None:
    response = client().post(
        "/v1/batch",
        json={"events": [{"event_type": "a"}, {"event_type": "A"}]},
        headers={"Authorization": "Bearer k1"},
    )
    assert response.status_code == 202
    (call,) = publisher.calls
    kinds = [Envelope.from_message(m.data).kind for m in call]
    assert kinds == ["events", "bad_events"]


def test_refused_publish_is_503_and_nothing_is_accepted(publisher: RecordingPublisher) -> None:
    publisher.refuse = True
    response = client().post(
        "/v1/batch",
        json={"events": [{"event_type": "a"}, {"event_type": "A"}]},
        headers={"Authorization": "Bearer k1"},
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "accepted" not in response.get_json()
    assert len(publisher.calls) == 1  # one all-or-nothing attempt, not a partial retry


def test_unauthenticated_request_publishes_nothing(publisher: RecordingPublisher) -> None:
    response = client().post("/v1/events", data=b"{", headers={"Content-Type": "text/plain"})
    assert response.status_code == 401
    assert publisher.calls == []


def test_single_event_envelope_sent_at_is_kept_only_when_valid() -> None:
    valid = parse_body("single", b'{"event_type": "a", "sent_at": "2024-05-01T10:00:00Z"}')
    naive = parse_body("single", b'{"event_type": "a", "sent_at": "2024-05-01T10:00:00"}')
    assert valid.sent_at_text == "2024-05-01T10:00:00Z"
    assert naive.sent_at_text is None


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (b"[]", "invalid_batch", "body"),
        (b'{"events": []}', "invalid_batch", "events"),
        (b'{"events": [], "extra": 1}', "invalid_batch", "extra"),
        (b'{"events": [{}], "sent_at": "2024-05-01T10:00"}', "invalid_batch", "sent_at"),
        (b"\xff\xfe", "invalid_json", "body"),
        (b"   ", "invalid_json", "body"),
    ],
)
def test_unusable_batch_bodies_name_code_and_field(body: bytes, code: str, field: str) -> None:
    with pytest.raises(BodyError) as caught:
        parse_body("batch", body)
    assert (caught.value.status, caught.value.code, caught.value.field) == (400, code, field)
