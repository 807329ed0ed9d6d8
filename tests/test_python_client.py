"""beacon_client against the real ingest over HTTP: events land once with their fields, faults
are retried (Retry-After honoured), a full queue drops the oldest, forks and exits lose nothing,
and the Flask extension and WSGI middleware record requests and crashes without ever raising."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import flask
import pytest
import werkzeug.test
from beacon_client import Client
from beacon_client._requests import route_template
from beacon_client._sender import Answer, Counts, Sender, retry_pause
from beacon_client.flask import BeaconFlask
from beacon_client.wsgi import BeaconMiddleware

from tests.support.flaky import FlakyProxy
from tests.support.ingest import Server, serve_ingest

KEY = "k1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_ingest(tmp_path_factory.mktemp("client")) as served:
        yield served


@pytest.fixture(autouse=True)
def empty_queue(server: Server) -> None:
    server.published()


def test_events_land_with_their_fields_and_the_ids_the_client_made(server: Server) -> None:
    client = Client(KEY, host=server.url, flush_interval=0.05)
    ids = [
        client.track("job_created", user_id="u1", properties={"provider_id": "p7"}),
        client.search("plumber", result_count=0, user_id="u1", duration_ms=83),
        client.payment(49.5, "EUR", user_id="u1"),
        client.refund(10, "EUR", user_id="u1"),
        client.signup("u2"),
        client.login("u2"),
        client.api_call("/orders/<int:id>", duration_ms=12.5, success=True),
        client.error("TimeoutError", "upstream slow", user_id="u1"),
    ]
    assert client.flush(10)
    events, bad = server.records()
    assert bad == []
    assert [e["event_id"] for e in events] == ids
    by_type = {e["event_type"]: e for e in events}
    assert by_type["search"]["properties"] == {"query": "plumber", "result_count": 0}
    assert (by_type["payment"]["revenue"], by_type["refund"]["revenue"]) == (49.5, -10)
    assert by_type["api_call"]["properties"]["route"] == "/orders/<int:id>"
    assert by_type["error"]["error_type"] == "TimeoutError"
    assert {e["platform"] for e in events} == {"server"}
    assert client.counts == Counts(sent=8)


def test_a_lost_answer_is_retried_and_counts_once(server: Server) -> None:
    with FlakyProxy(server.url) as proxy:
        client = Client(KEY, host=proxy.url, flush_interval=0.05)
        client.sender.backoff_base = 0.05
        ids = [client.track("a", user_id="u") for _ in range(3)]
        assert client.flush(10)
    assert proxy.requests == 2
    events, _ = server.records()
    # Ingest stored the batch twice; the ids the client made let the load keep one of each.
    assert sorted({e["event_id"] for e in events}) == sorted(ids)
    assert client.counts.sent == 3 and client.counts.failed == 0


def test_retry_after_is_honoured_and_the_backoff_is_jittered() -> None:
    answers = [Answer(503, 2.0, {}), Answer(429, None, {}), Answer(202, None, {"accepted": 1})]
    pauses: list[float] = []
    sender = Sender(
        "http://x/v1/batch",
        KEY,
        Counts(),
        transport=lambda *args: answers.pop(0),
        sleep=pauses.append,
        backoff_base=0.5,
    )
    assert sender.send([{"event_type": "a"}])
    assert pauses[0] >= 2.0 and 0 <= pauses[1] <= 1.0
    assert sender.counts.sent == 1
    assert all(0 <= retry_pause(5, 0.5, 3.0, None) <= 3.0 for _ in range(100))


def test_a_retry_carries_its_own_sent_at_so_the_clock_correction_stays_right() -> None:
    bodies: list[dict[str, Any]] = []

    def transport(url: str, data: bytes, *args: Any) -> Answer:
        bodies.append(json.loads(gzip.decompress(data)))
        return Answer(503 if len(bodies) == 1 else 202, 0.05, {"accepted": 1})

    sender = Sender("http://x/v1/batch", KEY, Counts(), transport=transport, backoff_base=0.01)
    assert sender.send([{"event_type": "a", "event_id": "e-1"}])
    first, second = (datetime.fromisoformat(b["sent_at"]) for b in bodies)
    assert second - first >= timedelta(seconds=0.05)
    assert bodies[0]["events"] == bodies[1]["events"] == [{"event_type": "a", "event_id": "e-1"}]


@pytest.mark.parametrize(
    ("status", "counted"), [(401, "failed"), (413, "failed"), (400, "rejected")]
)
def test_what_can_never_succeed_is_not_retried(status: int, counted: str) -> None:
    calls: list[int] = []

    def transport(*args: Any) -> Answer:
        calls.append(status)
        return Answer(status, None, {"accepted": 0})

    sender = Sender("http://x/v1/batch", KEY, Counts(), transport=transport, sleep=lambda s: None)
    assert sender.send([{"event_type": "a"}, {"event_type": "b"}])
    assert calls == [status] and getattr(sender.counts, counted) == 2


def test_unreachable_ingest_gives_up_after_the_retries_and_counts_it() -> None:
    sender = Sender(
        "http://127.0.0.1:9/v1/batch", KEY, Counts(), max_retries=2, sleep=lambda s: None
    )
    assert not sender.send([{"event_type": "a"}])
    assert sender.counts.failed == 1


def test_a_full_queue_drops_the_oldest_and_counts_it(server: Server) -> None:
    client = Client(KEY, host=server.url, max_queue=3, sync=True)
    for number in range(5):
        client.track("a", user_id=f"u{number}")
    assert client.counts.dropped_full == 2
    assert client.flush(10)
    events, _ = server.records()
    assert [e["user_id"] for e in events] == ["u2", "u3", "u4"]


def test_a_forked_worker_starts_empty_and_nothing_is_sent_twice(server: Server) -> None:
    client = Client(KEY, host=server.url, sync=True)
    client.track("a", user_id="parent-1")
    client.track("a", user_id="parent-2")
    child = os.fork()
    if child == 0:  # the worker: sends only its own event
        try:
            client.track("a", user_id="child")
            os._exit(0 if client.flush(10) else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert client.flush(10)
    events, _ = server.records()
    assert sorted(e["user_id"] for e in events) == ["child", "parent-1", "parent-2"]


def test_the_process_flushes_at_exit(server: Server, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        from beacon_client import Client
        client = Client({KEY!r}, host={server.url!r}, flush_interval=30)
        for n in range(3):
            client.track("at_exit", user_id=f"u{{n}}")
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    events, _ = server.records()
    assert [e["event_type"] for e in events] == ["at_exit"] * 3


def test_tracking_never_raises_into_the_app() -> None:
    client = Client(KEY, host="http://127.0.0.1:9", sync=True)
    assert client.track("a", properties={"unserialisable": object()}) is not None
    with pytest.raises(ValueError):
        Client("")


# -- Flask and WSGI --------------------------------------------------------------------------


def flask_app(client: Client) -> tuple[flask.Flask, BeaconFlask]:
    app = flask.Flask("shop")
    beacon = BeaconFlask(app, client=client, user_id=lambda: flask.request.headers.get("X-User"))

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> dict[str, int]:
        return {"order": order_id}

    @app.post("/signup")
    @beacon.tracks("signup")
    def signup() -> tuple[str, int]:
        return "", 201

    @app.get("/boom")
    def boom() -> str:
        return str(1 / 0)

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    return app, beacon


def test_flask_records_route_templates_errors_and_business_events(server: Server) -> None:
    client = Client(KEY, host=server.url, flush_interval=0.05)
    app, _ = flask_app(client)
    web = app.test_client()

    def status(response: Any) -> int:
        response.close()  # as a WSGI server does once the body is sent: the request ends here
        return int(response.status_code)

    assert status(web.get("/orders/42", headers={"X-User": "u1"})) == 200
    assert status(web.post("/signup", headers={"X-User": "u2"})) == 201
    assert status(web.get("/boom")) == 500
    assert status(web.get("/healthz")) == 200
    assert status(web.get("/nowhere")) == 404
    assert client.flush(10)
    events, bad = server.records()
    assert bad == []
    calls = [e for e in events if e["event_type"] == "api_call"]
    assert [(c["properties"]["route"], c["properties"]["status"], c["success"]) for c in calls] == [
        ("/orders/<int:order_id>", 200, True),
        ("/signup", 201, True),
        ("/boom", 500, False),
        ("(unmatched)", 404, True),
    ]
    assert calls[0]["user_id"] == "u1" and calls[0]["duration_ms"] >= 0
    assert calls[2]["error_type"] == "ZeroDivisionError"
    (error,) = [e for e in events if e["event_type"] == "error"]
    assert error["error_type"] == "ZeroDivisionError"
    (signup,) = [e for e in events if e["event_type"] == "signup"]
    assert signup["user_id"] == "u2"


def test_flask_init_app_for_app_factories_and_a_failing_user_callable(server: Server) -> None:
    client = Client(KEY, host=server.url, flush_interval=0.05)
    beacon = BeaconFlask(client=client, user_id=lambda: 1 / 0)
    app = flask.Flask("factory")
    app.get("/ping")(lambda: "pong")
    beacon.init_app(app)
    response = app.test_client().get("/ping")
    response.close()
    assert response.status_code == 200  # the callable's error stays ours
    assert client.flush(10)
    (event,), _ = server.records()
    assert event["properties"]["route"] == "/ping" and "user_id" not in event


def test_wsgi_middleware_records_any_framework_with_ids_taken_out(server: Server) -> None:
    client = Client(KEY, host=server.url, flush_interval=0.05)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"].startswith("/fail"):
            raise RuntimeError("broken")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    wrapped = BeaconMiddleware(app, client, user_id=lambda environ: "u9")
    web = werkzeug.test.Client(wrapped)
    response = web.get("/orders/123/items/9f1c2a7e-1111-4222-8333-444455556666")
    assert response.status_code == 200
    response.close()  # as every WSGI server does once the body is sent: the request ends here
    with pytest.raises(RuntimeError):
        web.get("/fail/7")
    web.get("/healthz").close()
    assert client.flush(10)
    events, _ = server.records()
    routes = [(e["event_type"], e.get("properties", {}).get("route")) for e in events]
    assert routes == [
        ("api_call", "/orders/{id}/items/{id}"),
        ("api_call", "/fail/{id}"),
        ("error", "/fail/{id}"),
    ]


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/users/42", "/users/{id}"),
        ("/a/0123456789abcdef0123", "/a/{id}"),
        ("/search", "/search"),
        ("/v1/orders", "/v1/orders"),
    ],
)
def test_route_templates(path: str, template: str) -> None:
    assert route_template(path) == template


def test_the_flask_demo_sends_api_calls_errors_and_searches(server: Server) -> None:
    from tests.support.serve import REPO, free_port

    demo = REPO / "clients" / "python" / "examples" / "flask_demo.py"
    command = [
        sys.executable,
        str(demo),
        f"--ingest={server.url}",
        f"--write-key={KEY}",
        f"--port={free_port()}",
        "--requests=40",
        "--pause=0",
    ]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr[-2000:]
    events, bad = server.records()
    kinds = {e["event_type"] for e in events}
    assert {"api_call", "search"} <= kinds and bad == []
    calls = [e for e in events if e["event_type"] == "api_call"]
    assert len(calls) == 40
    assert {c["properties"]["route"] for c in calls} <= {
        "/orders/<int:order_id>",
        "/search",
        "/boom",
    }
    failed = [c for c in calls if not c["success"]]
    assert len(failed) == sum(1 for e in events if e["event_type"] == "error")
