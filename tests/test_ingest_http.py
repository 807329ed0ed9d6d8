"""The ingest function served by functions-framework (gunicorn), publishing to the local queue."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.ingest import WEB, Server, serve_ingest
from tests.support.serve import serve_function

ORIGIN = "https://app.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_ingest(tmp_path_factory.mktemp("ingest"), BEACON_ALLOWED_ORIGINS=ORIGIN) as server:
        yield server


@pytest.fixture(autouse=True)
def empty_queue(server: Server) -> None:
    server.published()


def test_healthz_answers_ok(server: Server) -> None:
    response = requests.get(server.url + "/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_single_event_is_published_with_source_and_client_ip(server: Server) -> None:
    event = {"event_type": "page_view", "event_id": "e-1", "user_id": "u1"}
    response = server.post("/v1/events", event)
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "rejected_count": 0, "rejected": []}
    envelopes = server.published_kinds()
    assert set(envelopes) == {"events"}
    sent = envelopes["events"]
    assert sent.source == "web"
    assert sent.request_id == response.headers["X-Request-Id"]
    (record,) = sent.records
    assert record["event_id"] == "e-1"
    assert record["user_id"] == "u1"
    assert record["context"] == {"ip": "127.0.0.1"}
    assert record["timestamp"] == sent.received_at


def test_batch_with_good_and_bad_events_answers_exact_rejections(server: Server) -> None:
    events = [
        {"event_type": "login", "event_id": "ok-0"},
        {"event_type": "Login", "event_id": "bad-1"},
        {"event_type": "search", "context": {"user_agent": "x" * 1025, "screen": "s"}},
        {"event_type": "payment", "revenue": 5.0, "event_id": "bad-3"},
        {"event_type": "api_call", "duration_ms": 12.5, "success": True},
    ]
    response = server.post("/v1/batch", {"events": events}, headers={"Authorization": "Bearer k2"})
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["event_id"]) for r in body["rejected"]] == [
        (1, "bad-1"),
        (2, None),
        (3, "bad-3"),
    ]
    assert [[e["field"] for e in r["errors"]] for r in body["rejected"]] == [
        ["event_type"],
        ["context.user_agent", "context.screen"],
        ["currency"],
    ]
    assert body["rejected"][1]["errors"][1]["message"] == "unknown field 'context.screen'"
    envelopes = server.published_kinds()
    assert [r["event_type"] for r in envelopes["events"].records] == ["login", "api_call"]
    bad = envelopes["bad_events"]
    assert bad.source == "server"
    assert bad.request_id == envelopes["events"].request_id
    assert [(r["event_index"], r["reason"]) for r in bad.records] == [
        (1, "invalid_event"),
        (2, "invalid_event"),
        (3, "invalid_event"),
    ]
    assert json.loads(bad.records[0]["payload"]) == events[1]
    assert bad.records[2]["errors"] == [
        {"field": "currency", "message": "required when revenue is given"}
    ]


def test_batch_sent_at_applies_to_events_without_their_own(server: Server) -> None:
    batch = {
        "sent_at": "2024-05-01T10:00:00Z",
        "events": [
            {"event_type": "a", "timestamp": "2024-05-01T09:59:00Z"},
            {"event_type": "b", "sent_at": "2024-05-01T10:00:05+00:00"},
        ],
    }
    assert server.post("/v1/batch", batch).status_code == 202
    sent = server.published_kinds()["events"]
    assert sent.sent_at == "2024-05-01T10:00:00Z"
    assert [r["sent_at"] for r in sent.records] == [
        "2024-05-01T10:00:00+00:00",
        "2024-05-01T10:00:05+00:00",
    ]


def test_all_events_invalid_is_400_with_rejections_recorded(server: Server) -> None:
    response = server.post("/v1/batch", {"events": [{"event_type": "x", "foo": 1}]})
    assert response.status_code == 400
    assert response.json() == {
        "accepted": 0,
        "rejected_count": 1,
        "rejected": [
            {
                "index": 0,
                "event_id": None,
                "errors": [{"field": "foo", "message": "unknown field 'foo'"}],
            }
        ],
    }
    envelopes = server.published_kinds()
    assert set(envelopes) == {"bad_events"}


def test_body_that_is_not_json_is_400_and_recorded(server: Server) -> None:
    response = server.post(
        "/v1/events", data=b"{not json", headers={**WEB, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"
    (row,) = server.published_kinds()["bad_events"].records
    assert (row["reason"], row["payload"], row["event_index"]) == (
        "invalid_json",
        "{not json",
        None,
    )
    assert row["source"] == "web"


def test_nan_in_body_is_invalid_json(server: Server) -> None:
    response = server.post(
        "/v1/events",
        data=b'{"event_type": "x", "revenue": NaN, "currency": "USD"}',
        headers={**WEB, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


def test_missing_or_unknown_key_is_401_and_not_recorded(server: Server) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Token k1"}):
        response = server.post("/v1/events", {"event_type": "x"}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert "Bearer" in response.headers["WWW-Authenticate"]
    assert server.published() == []


def test_basic_auth_with_key_as_user_name(server: Server) -> None:
    token = base64.b64encode(b"k2:").decode()
    response = server.post(
        "/v1/events", {"event_type": "x"}, headers={"Authorization": f"Basic {token}"}
    )
    assert response.status_code == 202
    assert server.published_kinds()["events"].source == "server"


def test_send_beacon_text_plain_with_query_key(server: Server) -> None:
    body = json.dumps({"events": [{"event_type": "page_view"}]})
    response = requests.post(
        server.url + "/v1/batch?key=k1",
        data=body.encode(),
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN},
        timeout=10,
    )
    assert response.status_code == 202
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert server.published_kinds()["events"].source == "web"


def test_gzip_body_is_decoded(server: Server) -> None:
    body = gzip.compress(json.dumps({"events": [{"event_type": "a"}] * 300}).encode())
    headers = {**WEB, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    response = server.post("/v1/batch", data=body, headers=headers)
    assert response.status_code == 202
    assert response.json()["accepted"] == 300


def test_gzip_bomb_is_413_and_server_stays_up(server: Server) -> None:
    bomb = gzip.compress(b"[" + b" " * (200 * 1024 * 1024) + b"]", compresslevel=9)
    assert len(bomb) < 1024 * 1024
    headers = {**WEB, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    started = time.monotonic()
    response = server.post("/v1/batch", data=bomb, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert time.monotonic() - started < 5
    (row,) = server.published_kinds()["bad_events"].records
    assert row["reason"] == "too_large"
    assert len(row["payload"].encode()) == 64 * 1024
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize(("path", "length"), [("/v1/events", 2_000_000), ("/v1/batch", 5_000_000)])
def test_content_length_over_the_limit_is_413_without_reading_the_body(
    server: Server, path: str, length: int
) -> None:
    # Only the headers are sent: an answer proves the server did not wait for the body.
    # /v1/batch also takes Segment batches of up to 4 MB, so only a larger one is refused unread
    # there; a native batch over 1 MB is refused once read (the next test).
    address = urlsplit(server.url)
    request = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{"
    )
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        sock.sendall(request.encode())
        answer = sock.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 413")
    (row,) = server.published_kinds()["bad_events"].records
    assert row["reason"] == "too_large"


def test_body_over_1mb_sent_in_full_is_413(server: Server) -> None:
    body = b'{"events": ["' + b"x" * (1024 * 1024) + b'"]}'
    response = server.post("/v1/batch", data=body, headers={**WEB, "Content-Type": "text/plain"})
    assert response.status_code == 413
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


def test_more_than_500_events_is_413(server: Server) -> None:
    response = server.post("/v1/batch", {"events": [{"event_type": "a"}] * 501})
    assert response.status_code == 413
    assert response.json()["error"] == "too_many_events"
    (row,) = server.published_kinds()["bad_events"].records
    assert row["reason"] == "too_many_events"


def test_unsupported_content_type_is_415(server: Server) -> None:
    response = server.post(
        "/v1/events",
        data=b"event_type=x",
        headers={**WEB, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    (row,) = server.published_kinds()["bad_events"].records
    assert row["reason"] == "unsupported_media_type"


def test_unknown_path_is_404_and_wrong_method_is_405(server: Server) -> None:
    assert requests.post(server.url + "/v1/nothing", timeout=5, headers=WEB).status_code == 404
    response = requests.get(server.url + "/v1/batch", timeout=5, headers=WEB)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST, OPTIONS"
    assert requests.post(server.url + "/healthz", timeout=5).headers["Allow"] == "GET, HEAD"


def test_cors_preflight_for_allowed_origin(server: Server) -> None:
    response = requests.options(
        server.url + "/v1/batch",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, content-encoding",
        },
        timeout=5,
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "content-type", "content-encoding"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_disallowed_origin_gets_no_cors_headers(server: Server) -> None:
    evil = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    preflight = requests.options(server.url + "/v1/batch", headers=evil, timeout=5)
    assert "Access-Control-Allow-Origin" not in preflight.headers
    post = server.post("/v1/events", {"event_type": "x"}, headers={**WEB, **evil})
    assert "Access-Control-Allow-Origin" not in post.headers


def test_peer_address_fills_context_ip_and_forwarded_for_is_not_trusted(server: Server) -> None:
    # BEACON_TRUSTED_PROXIES is 0 here: a client-written header must not choose the stored IP.
    headers = {**WEB, "X-Forwarded-For": "203.0.113.9, 10.0.0.1"}
    events = [{"event_type": "a"}, {"event_type": "b", "context": {"ip": "198.51.100.7"}}]
    assert server.post("/v1/batch", {"events": events}, headers=headers).status_code == 202
    records = server.published_kinds()["events"].records
    assert [r["context"]["ip"] for r in records] == ["127.0.0.1", "198.51.100.7"]


def test_twenty_full_batches_on_one_connection_are_all_published(server: Server) -> None:
    events = [
        {
            "event_type": "page_view",
            "user_id": f"u{i}",
            "timestamp": "2024-05-01T10:00:00Z",
            "platform": "web",
            "context": {"page_url": "https://app.example/a", "user_agent": "Mozilla/5.0"},
            "properties": {"screen": "home", "n": i},
        }
        for i in range(500)
    ]
    body = json.dumps({"events": events}).encode()
    headers = {**WEB, "Content-Type": "application/json"}
    session = requests.Session()
    rounds = 20
    for _ in range(rounds):
        response = session.post(server.url + "/v1/batch", data=body, headers=headers, timeout=30)
        assert response.status_code == 202
        assert response.json() == {"accepted": len(events), "rejected_count": 0, "rejected": []}
    # Throughput is measured in bench/ingest.py; here every event must arrive.
    assert sum(len(e.records) for e in server.published()) == rounds * len(events)


def test_refused_publish_is_503_with_nothing_accepted(tmp_path: Path) -> None:
    # The data directory lies under a regular file, so the queue cannot be opened at all.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    env = {
        "BEACON_BACKEND": "local",
        "BEACON_DATA_DIR": str(blocker / "data"),
        "BEACON_WRITE_KEYS": "web:k1",
    }
    with serve_function("ingest", env=env) as url:
        batch = {"events": [{"event_type": "a"}, {"event_type": "B"}]}
        response = requests.post(url + "/v1/batch", json=batch, headers=WEB, timeout=10)
        assert response.status_code == 503
        assert response.headers["Retry-After"].isdigit()
        assert response.json()["error"] == "unavailable"
        bad_json = requests.post(
            url + "/v1/events",
            data=b"{",
            headers={**WEB, "Content-Type": "application/json"},
            timeout=10,
        )
        assert bad_json.status_code == 503
    assert not (blocker / "data").exists()
