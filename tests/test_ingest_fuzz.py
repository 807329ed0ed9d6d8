"""10,000 generated bodies at the real ingest over HTTP: never a 5xx, every accepted event stored
exactly once, every rejection kept, and the load writes all of it without parking anything.

The generator writes JSON text itself, so bodies hold what no encoder produces: lone surrogate
escapes, bytes that are not UTF-8, duplicate keys, 1e400, integers of 5,000 digits, times at the
ends of the calendar, objects deep and wide. It is seeded: a failure names the seed and body.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from functions.envelope import Envelope
from functions.load.core import prepare_load
from functions.local.duckdb_warehouse import DuckDBWarehouse
from tests.support.ingest import WEB, serve_ingest

BODIES = 10_000
SEED = 20261201
THREADS = 2


class Raw(str):
    """JSON text written into a body as it is."""


Pairs = list[tuple[str, object]]


def dump(value: object) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, list) and value and all(isinstance(p, tuple) for p in value):
        return "{" + ",".join(f"{dump(k)}:{dump(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


STRINGS: list[Callable[[random.Random], object]] = [
    lambda r: "plain",
    lambda r: "ünïcödé ✓ 🚀",
    lambda r: Raw('"caf\\ud83d"'),  # a lone high surrogate
    lambda r: Raw('"\\udc00tail"'),  # a lone low surrogate
    lambda r: Raw('"\\ud83d\\ude80"'),  # a valid pair: accepted
    lambda r: "x" * r.choice([0, 1, 64, 65, 257, 9000]),
    lambda r: "\u0000\u001f\\\"'",
    lambda r: Raw('"\\u0000"'),
]
NUMBERS: list[Callable[[random.Random], object]] = [
    lambda r: 0,
    lambda r: -0.0,
    lambda r: r.uniform(-1000, 1000),
    lambda r: Raw("1e308"),
    lambda r: Raw("-1e308"),
    lambda r: Raw("1e400"),
    lambda r: Raw("5e-324"),
    lambda r: 2**63 - 1,
    lambda r: 2**63,
    lambda r: -(2**63) - 1,
    lambda r: 2**64,
    lambda r: Raw("9" * 5000),
    lambda r: 10**12,
    lambda r: 10**12 + 1,
]
TIMES: list[Callable[[random.Random], object]] = [
    lambda r: "0001-01-01T00:00:00Z",
    lambda r: "9999-12-31T23:59:59.999999Z",
    lambda r: "0001-01-01T00:00:00+01:00",
    lambda r: "9999-12-31T23:59:59-14:00",
    lambda r: "1969-07-20T20:17:40Z",
    lambda r: "2024-02-30T00:00:00Z",
    lambda r: "2024-05-01T10:00:00",
    lambda r: "2024-05-01T10:00:00.123456+05:30",
    lambda r: "not a time",
    lambda r: r.randint(0, 2**40),
]


def anything(r: random.Random, depth: int = 0) -> object:
    pick = r.random()
    if pick < 0.3:
        return r.choice(STRINGS)(r)
    if pick < 0.6:
        return r.choice(NUMBERS)(r)
    if pick < 0.7:
        return r.choice([True, False, None])
    if pick < 0.8:
        return r.choice(TIMES)(r)
    if depth > 3:
        return "leaf"
    if pick < 0.9:
        return [anything(r, depth + 1) for _ in range(r.randint(0, 4))]
    return [(f"k{i}", anything(r, depth + 1)) for i in range(r.randint(1, 4))]


def deep(r: random.Random) -> object:
    value: object = "bottom"
    for _ in range(r.randint(1, 40)):
        value = [("d", value)] if r.random() < 0.5 else [value]
    return value


def properties(r: random.Random) -> object:
    pick = r.random()
    if pick < 0.4:
        keys = ["query", "result_count", "platform_fee", "rating", "provider_id", "n"]
        return [(r.choice(keys), anything(r)) for _ in range(r.randint(1, 5))]
    if pick < 0.6:
        return deep(r)
    if pick < 0.7:
        return [(f"w{i}", i) for i in range(r.randint(100, 600))]  # wide
    if pick < 0.8:
        return [("same", 1), ("same", 2)]  # duplicate keys
    return anything(r)


FIELDS: dict[str, Callable[[random.Random], object]] = {
    "event_type": lambda r: (
        r.choice(["page_view", "search", "payment", "api_call", "Bad", "", "a" * 65])
        if r.random() < 0.95
        else anything(r)
    ),
    "timestamp": lambda r: r.choice(TIMES)(r),
    "sent_at": lambda r: r.choice(TIMES)(r),
    "user_id": lambda r: r.choice(STRINGS)(r),
    "anonymous_id": lambda r: r.choice(STRINGS)(r),
    "session_id": lambda r: r.choice(STRINGS)(r),
    "platform": lambda r: r.choice(["web", "ios", "tv", None, 3]),
    "app_version": lambda r: r.choice(STRINGS)(r),
    "properties": properties,
    "context": lambda r: [
        ("ip", r.choice(["203.0.113.9", "::1", "999.1.1.1", anything(r)])),
        ("user_agent", r.choice(STRINGS)(r)),
    ],
    "revenue": lambda r: r.choice(NUMBERS)(r),
    "currency": lambda r: r.choice(["USD", "EUR", "usd", None, 7]),
    "duration_ms": lambda r: r.choice(NUMBERS)(r),
    "success": lambda r: r.choice([True, False, "yes"]),
    "error_type": lambda r: r.choice(STRINGS)(r),
    "unknown_field": lambda r: 1,
}


@dataclass
class Generated:
    path: str
    body: bytes
    event_ids: list[str]  # the unique ids this body gives its events


def event(r: random.Random, number: str) -> tuple[object, str]:
    """One event as JSON pairs, with a unique event_id (sometimes duplicated as a key)."""
    pairs: Pairs = [("event_id", number)]
    if r.random() < 0.5:  # a well-formed event, so batches mix good and bad ones
        pairs += [("event_type", r.choice(["page_view", "search", "login"])), ("user_id", "u")]
        if r.random() < 0.5:
            pairs.append(("properties", [("query", "ünï"), ("result_count", r.randint(0, 9))]))
        return pairs, number
    chosen = r.sample(sorted(FIELDS), r.randint(1, 7))
    if "event_type" not in chosen and r.random() < 0.9:
        chosen.append("event_type")
    pairs += [
        (name, FIELDS[name](r)) for name in chosen if name != "unknown_field" or r.random() < 0.2
    ]
    if r.random() < 0.03:
        pairs.append(("user_id", "again"))  # a duplicate key, maybe
    r.shuffle(pairs)
    return (pairs if r.random() > 0.02 else r.choice([[], "text", 5])), number


def generate(r: random.Random, index: int) -> Generated:
    pick = r.random()
    if pick < 0.08:  # a body that is not a usable JSON document
        garbage = r.choice(
            [
                b'{"events": [',
                b"\xff\xfe\x00",
                b"[1,2,3]",
                b'{"events": []}',
                b'{"events": 5}',
                b'{"events": [{}], "extra": 1}',
                b"NaN",
                b"[" * 3000 + b"]" * 3000,
                b'{"events":[{"event_type":"a","x":"\xc3\x28"}]}',
            ]
        )
        return Generated(r.choice(["/v1/events", "/v1/batch"]), garbage, [])
    if pick < 0.3:
        body, number = event(r, f"fz-{index}-0")
        return Generated("/v1/events", dump(body).encode(), [number])
    events = [event(r, f"fz-{index}-{i}") for i in range(r.randint(1, 8))]
    batch: Pairs = [("events", [e for e, _ in events])]
    if r.random() < 0.2:
        batch.append(("sent_at", r.choice(TIMES)(r)))
    text = dump(batch).encode()
    if r.random() < 0.02:
        text = text.replace(b"plain", b"pl\xffain")  # bytes that are not UTF-8 inside an event
    return Generated("/v1/batch", text, [n for _, n in events])


@dataclass
class Outcome:
    generated: Generated
    status: int
    request_id: str
    answer: dict[str, object]


def send_all(url: str, bodies: list[Generated]) -> list[Outcome]:
    outcomes: list[Outcome | None] = [None] * len(bodies)

    def work(offset: int) -> None:
        with requests.Session() as session:
            for index in range(offset, len(bodies), THREADS):
                generated = bodies[index]
                response = session.post(
                    url + generated.path,
                    data=generated.body,
                    headers={**WEB, "Content-Type": "application/json"},
                    timeout=30,
                )
                outcomes[index] = Outcome(
                    generated,
                    response.status_code,
                    response.headers["X-Request-Id"],
                    response.json(),
                )

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(o is not None for o in outcomes)
    return [o for o in outcomes if o is not None]


def test_ten_thousand_generated_bodies_lose_nothing(tmp_path: Path) -> None:
    r = random.Random(SEED)
    bodies = [generate(r, i) for i in range(BODIES)]
    with serve_ingest(tmp_path) as server:
        outcomes = send_all(server.url, bodies)
        messages = []
        while batch := server.queue.claim(1000):
            server.queue.ack([m.message_id for m in batch])
            messages += batch
    statuses = Counter(o.status for o in outcomes)
    partly = sum(1 for o in outcomes if o.status == 202 and o.answer["rejected_count"])
    failures = [o for o in outcomes if o.status >= 500]
    assert not failures, (SEED, failures[0].generated.body[:500], failures[0].answer)
    assert set(statuses) <= {202, 400, 413}, statuses
    # The generator reaches every kind of answer: all kept, all refused, some of each.
    assert statuses[202] > BODIES / 4 and statuses[400] > BODIES / 4, statuses
    assert partly > BODIES / 10

    envelopes = [Envelope.from_message(m.data) for m in messages]
    events_by_request: Counter[str] = Counter()
    bad_by_request: Counter[str] = Counter()
    for envelope in envelopes:
        counted = events_by_request if envelope.kind == "events" else bad_by_request
        counted[envelope.request_id] += len(envelope.records)
    prepared = prepare_load(messages)
    assert prepared.malformed == 0  # the load can write everything ingest accepted
    assert len(prepared.events) == sum(events_by_request.values())
    assert len(prepared.bad) == sum(bad_by_request.values())
    stored_ids = Counter(row["event_id"] for row in prepared.events)
    assert max(stored_ids.values()) == 1  # exactly once
    for outcome in outcomes:
        request, answer = outcome.request_id, outcome.answer
        if "error" in answer:  # the whole body was unusable: one row keeps it
            assert events_by_request[request] == 0 and bad_by_request[request] == 1, answer
            continue
        assert events_by_request[request] == answer["accepted"], outcome
        assert bad_by_request[request] == answer["rejected_count"], outcome
        if outcome.generated.event_ids:  # not one of the hand-written garbage bodies
            expected = len(outcome.generated.event_ids)
            assert answer["accepted"] + answer["rejected_count"] == expected, outcome
    generated_ids = {n for o in outcomes for n in o.generated.event_ids}
    assert set(stored_ids) <= generated_ids

    warehouse = DuckDBWarehouse(tmp_path / "beacon.duckdb")
    warehouse.ensure_tables()
    stats = prepared.write(warehouse)
    counts = warehouse.query(
        "SELECT (SELECT COUNT(*) FROM events WHERE DATE(`timestamp`) >= '0001-01-01') AS events,"
        " (SELECT COUNT(*) FROM bad_events WHERE DATE(received_at) >= '0001-01-01') AS bad"
    ).rows[0]
    warehouse.close()
    assert counts == {"events": len(prepared.events), "bad": len(prepared.bad)}
    assert stats.events == sum(stored_ids.values())
