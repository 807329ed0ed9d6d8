"""Ingest at the edges, over real HTTP: no input costs the good events of its batch, every
rejection is kept whole in bad_events, and a bug of ours parks the body instead of losing it."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.envelope import Envelope
from functions.local.localqueue import LocalQueue
from tests.support.ingest import WEB, Server, serve_ingest
from tests.support.serve import REPO, serve_function


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_ingest(tmp_path_factory.mktemp("edges")) as served:
        yield served


@pytest.fixture(autouse=True)
def empty_queue(server: Server) -> None:
    server.published()


def good(n: int) -> list[dict[str, Any]]:
    return [{"event_type": "page_view", "event_id": f"good-{i}", "user_id": "u"} for i in range(n)]


def batch_text(events: list[str]) -> bytes:
    """A batch body from event texts, so a test can write JSON no encoder would."""
    return ('{"events":[' + ",".join(events) + "]}").encode()


def assert_only_poison_rejected(response: requests.Response, poison_index: int, total: int) -> dict:
    assert response.status_code == 202
    answer = response.json()
    assert answer["accepted"] == total - 1
    assert answer["rejected_count"] == 1
    (rejection,) = answer["rejected"]
    assert rejection["index"] == poison_index
    return rejection


def test_a_lone_surrogate_rejects_its_event_and_keeps_the_other_499(server: Server) -> None:
    texts = [json.dumps(e) for e in good(500)]
    texts[250] = '{"event_type":"search","event_id":"cut","properties":{"query":"caf\\ud83d"}}'
    response = server.post_raw("/v1/batch", batch_text(texts))
    rejection = assert_only_poison_rejected(response, 250, 500)
    assert rejection["errors"][0]["field"] == "properties.query"
    assert "not valid Unicode" in rejection["errors"][0]["message"]
    events, bad = server.records()
    assert sorted(e["event_id"] for e in events) == sorted(
        f"good-{i}" for i in range(500) if i != 250
    )
    (row,) = bad
    # Kept whole: the escape is still there, and the row's text is valid UTF-8.
    assert "caf\\ud83d" in row["payload"]
    assert row["event_id"] == "cut"
    assert row["user_keys"] == [] and row["keys_extracted"] is True


def test_bytes_that_are_not_utf8_reject_only_their_event_and_are_kept_escaped(
    server: Server,
) -> None:
    body = b'{"events":[{"event_type":"a","user_id":"x\xff\xfe"},{"event_type":"b"}]}'
    response = server.post_raw("/v1/batch", body)
    rejection = assert_only_poison_rejected(response, 0, 2)
    assert rejection["errors"][0]["field"] == "user_id"
    events, bad = server.records()
    assert [e["event_type"] for e in events] == ["b"]
    assert "\\udcff\\udcfe" in bad[0]["payload"]


def test_a_lone_surrogate_in_a_key_or_an_id_is_answered_as_valid_json(server: Server) -> None:
    texts = [
        '{"event_type":"a","event_id":"e\\udc00","properties":{"k\\ud800":1}}',
        '{"event_type":"b"}',
    ]
    response = server.post_raw("/v1/batch", batch_text(texts))
    rejection = assert_only_poison_rejected(response, 0, 2)
    assert rejection["event_id"] == "e\\udc00"  # shown escaped: the answer is valid UTF-8
    fields = {error["field"] for error in rejection["errors"]}
    assert fields == {"event_id", "properties.k\\ud800"}


def test_duplicate_keys_are_rejected_naming_the_key_and_both_values_are_kept(
    server: Server,
) -> None:
    texts = ['{"event_type":"a","user_id":"first","user_id":"second"}', '{"event_type":"b"}']
    response = server.post_raw("/v1/batch", batch_text(texts))
    rejection = assert_only_poison_rejected(response, 0, 2)
    assert rejection["errors"] == [
        {"field": "user_id", "message": "duplicate key 'user_id' in one object"}
    ]
    _, (row,) = server.records()
    assert '"user_id":"first"' in row["payload"] and '"user_id":"second"' in row["payload"]
    assert row["user_keys"] == ["second"]


def test_a_duplicate_key_in_the_batch_object_is_a_400_naming_it(server: Server) -> None:
    response = server.post_raw("/v1/batch", b'{"events":[{"event_type":"a"}],"events":[]}')
    assert response.status_code == 400
    assert response.json()["message"] == "duplicate key 'events' in the batch object"
    _, (row,) = server.records()
    assert row["reason"] == "invalid_batch"


def test_an_integer_of_5000_digits_rejects_its_event_and_its_digits_are_kept(
    server: Server,
) -> None:
    digits = "7" * 5000
    texts = ['{"event_type":"a","properties":{"n":' + digits + "}}", '{"event_type":"b"}']
    response = server.post_raw("/v1/batch", batch_text(texts))
    rejection = assert_only_poison_rejected(response, 0, 2)
    assert rejection["errors"] == [
        {"field": "properties.n", "message": "integer of over 4,300 digits"}
    ]
    _, (row,) = server.records()
    assert digits in row["payload"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"timestamp": "9999-12-31T23:59:59Z", "sent_at": "0001-01-01T00:00:00Z"}, "timestamp"),
        ({"timestamp": "0001-01-01T00:00:00Z", "sent_at": "9999-12-31T23:59:59Z"}, "timestamp"),
        ({"timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),
        ({"sent_at": "9999-12-31T23:59:59-01:00"}, "sent_at"),
    ],
)
def test_times_at_the_calendars_ends_reject_their_event_only(
    server: Server, fields: dict[str, str], field: str
) -> None:
    response = server.post("/v1/batch", {"events": [{"event_type": "a", **fields}, *good(1)]})
    rejection = assert_only_poison_rejected(response, 0, 2)
    assert rejection["errors"][0]["field"] == field
    assert "outside the years 0001 to 9999" in rejection["errors"][0]["message"]
    events, bad = server.records()
    assert len(events) == 1 and len(bad) == 1


def test_a_batch_sent_at_year_one_rejects_each_event_it_would_move_out_of_range(
    server: Server,
) -> None:
    batch = {
        "sent_at": "0001-01-01T00:00:00Z",
        "events": [{"event_type": "a", "timestamp": "9999-12-31T00:00:00Z"}],
    }
    response = server.post("/v1/batch", batch)
    assert response.status_code == 400
    assert response.json()["rejected"][0]["errors"][0]["field"] == "timestamp"


def test_an_event_before_1970_is_accepted_unchanged(server: Server) -> None:
    moon = {"event_type": "landing", "timestamp": "1969-07-20T20:17:40Z"}
    assert server.post("/v1/events", moon).status_code == 202
    (record,), _ = server.records()
    assert record["timestamp"] == "1969-07-20T20:17:40+00:00"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"revenue": 1e308, "currency": "USD"}, "revenue"),
        ({"revenue": -1e13, "currency": "USD"}, "revenue"),
        ({"duration_ms": 1e300}, "duration_ms"),
        ({"duration_ms": 31 * 24 * 3600 * 1000}, "duration_ms"),
        ({"properties": {"platform_fee": 1e15}}, "properties.platform_fee"),
        ({"properties": {"rating": 11}}, "properties.rating"),
    ],
)
def test_magnitudes_no_real_app_sends_are_rejected_with_the_bound(
    server: Server, fields: dict[str, Any], field: str
) -> None:
    response = server.post("/v1/batch", {"events": [{"event_type": "payment", **fields}, *good(1)]})
    rejection = assert_only_poison_rejected(response, 0, 2)
    assert rejection["errors"][0]["field"] == field


def test_an_overflowing_number_is_rejected_as_not_finite(server: Server) -> None:
    texts = ['{"event_type":"a","properties":{"x":1e400}}', '{"event_type":"b"}']
    rejection = assert_only_poison_rejected(server.post_raw("/v1/batch", batch_text(texts)), 0, 2)
    assert rejection["errors"][0]["field"] == "properties.x"


def test_the_largest_payment_allowed_is_accepted(server: Server) -> None:
    event = {"event_type": "payment", "revenue": 1e12, "currency": "JPY", "duration_ms": 0}
    assert server.post("/v1/events", event).status_code == 202


def test_an_answer_lists_twenty_rejections_and_counts_the_rest(server: Server) -> None:
    bad = [{"event_type": "Bad", "event_id": f"b{i}", "x": "y" * 600} for i in range(500)]
    response = server.post("/v1/batch", {"events": bad})
    assert response.status_code == 400
    assert len(response.content) < 20_000
    answer = response.json()
    assert answer["rejected_count"] == 500
    assert [r["index"] for r in answer["rejected"]] == list(range(20))
    _, rows = server.records()
    assert sorted(row["event_index"] for row in rows) == list(range(500))


def test_an_unusable_body_that_is_not_utf8_is_kept_escaped(server: Server) -> None:
    response = server.post_raw("/v1/batch", b'{"events": [\xff')
    assert response.status_code == 400
    _, (row,) = server.records()
    assert row["payload"] == '{"events": [\\xff'
    assert row["keys_extracted"] is False


def test_gzip_bodies_get_the_same_checks(server: Server) -> None:
    texts = ['{"event_type":"a","user_id":"1","user_id":"2"}', '{"event_type":"b"}']
    body = gzip.compress(batch_text(texts))
    response = server.post_raw("/v1/batch", body, **{"Content-Encoding": "gzip"})
    assert_only_poison_rejected(response, 0, 2)


FAULTY_INGEST = '''
"""ingest with a bug planted for the test: an event of type "explode" raises in validation
(on the hot path and the slow path alike)."""
import functions.ingest.handler as handler
from functions.ingest.main import ingest  # noqa: F401 (the entry point)

_validate = handler.validate_events


def _buggy(events, **kwargs):
    if any(isinstance(e, dict) and e.get("event_type") == "explode" for e in events):
        raise ZeroDivisionError("planted bug")
    return _validate(events, **kwargs)


def _buggy_fast(kind, raw, received_at):
    if b"explode" in raw:
        raise ZeroDivisionError("planted bug")
    return _accept_fast(kind, raw, received_at)


_accept_fast = handler.fastpath.accept
handler.validate_events = _buggy
handler.fastpath.accept = _buggy_fast
'''


def test_a_bug_of_ours_is_logged_and_parks_the_body_in_bad_events(tmp_path: Path) -> None:
    source = tmp_path / "faulty" / "main.py"
    source.parent.mkdir()
    source.write_text(FAULTY_INGEST)
    env = {
        "BEACON_BACKEND": "local",
        "BEACON_DATA_DIR": str(tmp_path / "data"),
        "BEACON_WRITE_KEYS": "web:k1",
        "PYTHONPATH": str(REPO),
    }
    body = json.dumps({"events": [{"event_type": "explode"}, {"event_type": "ok"}]})
    log_path = tmp_path / "server.log"
    with serve_function("ingest", env, source=source, log_path=log_path) as url:
        response = requests.post(
            url + "/v1/batch",
            data=body,
            headers={**WEB, "Content-Type": "application/json"},
            timeout=10,
        )
    assert response.status_code == 500
    answer = response.json()
    request_id = response.headers["X-Request-Id"]
    assert answer["error"] == "internal_error"
    assert request_id in answer["message"] and "kept in bad_events" in answer["message"]
    queue = LocalQueue(tmp_path / "data" / "queue.sqlite3")
    (message,) = queue.claim(10)
    queue.close()
    (row,) = Envelope.from_message(message.data).records
    assert row["reason"] == "internal_error" and row["payload"] == body
    assert row["request_id"] == request_id
    logged = [
        json.loads(line) for line in log_path.read_text().splitlines() if '"severity"' in line
    ]
    (line,) = [entry for entry in logged if entry.get("request_id") == request_id]
    assert line["severity"] == "ERROR" and line["parked"] is True
    assert "ZeroDivisionError: planted bug" in line["trace"]


def test_no_5xx_for_deep_nesting_inside_an_event(server: Server) -> None:
    deep = "[" * 5000 + "]" * 5000
    texts = ['{"event_type":"a","properties":{"d":' + deep + "}}", '{"event_type":"b"}']
    response = server.post_raw("/v1/batch", batch_text(texts))
    # Too deep to parse is the whole body's fault (400); either way the body is kept.
    assert response.status_code == 400
    assert response.json()["message"] == "the JSON is nested too deeply"
    _, (row,) = server.records()
    assert row["payload"].startswith('{"events":[{"event_type":"a"')


def test_a_full_queue_answers_503_accepts_nothing_and_shrinks_once_drained(
    tmp_path: Path,
) -> None:
    limit = 2 << 20
    with serve_ingest(tmp_path, BEACON_QUEUE_MAX_BYTES=str(limit)) as server:
        event = {"event_type": "a", "properties": {"text": "x" * 4000}}
        statuses: list[int] = []
        accepted = 0
        while len(statuses) < 200 and 503 not in statuses:
            response = server.post("/v1/batch", {"events": [event] * 50})
            statuses.append(response.status_code)
            if response.status_code == 202:
                accepted += response.json()["accepted"]
        assert statuses[-1] == 503 and set(statuses[:-1]) == {202}
        assert response.headers["Retry-After"].isdigit()
        assert "full" in response.json()["message"]
        # A second refusal is as clean as the first: nothing of either was stored.
        assert server.post("/v1/batch", {"events": [event] * 50}).status_code == 503
        full_size = server.queue.file_bytes()
        assert full_size <= limit + (1 << 20)
        stored = sum(len(e.records) for e in server.published())
        assert stored == accepted
        assert server.queue.file_bytes() < full_size / 4  # the drained file gave space back
        assert server.post("/v1/events", event).status_code == 202


def test_with_one_trusted_proxy_the_last_forwarded_hop_is_the_client(tmp_path: Path) -> None:
    with serve_ingest(tmp_path, BEACON_TRUSTED_PROXIES="1") as server:
        headers = {**WEB, "X-Forwarded-For": "6.6.6.6, 203.0.113.9"}
        assert server.post("/v1/events", {"event_type": "a"}, headers=headers).status_code == 202
        (record,), _ = server.records()
    assert record["context"]["ip"] == "203.0.113.9"
