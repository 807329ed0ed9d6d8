"""What beacon_client's Flask extension and WSGI middleware add to a request (not a test).

`python bench/client_middleware.py [--requests N]`: the same small Flask app served in-process
(Werkzeug's test client, no network) without tracking, with BeaconFlask and with
BeaconMiddleware, alternating rounds; the client's queue and background thread run as in an
app, its transport answers at once so ingest's speed does not enter. Prints the median time per
request of each, and the difference: the target is under 50 us.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import flask
from beacon_client import Client
from beacon_client._sender import Answer
from beacon_client.flask import BeaconFlask
from beacon_client.wsgi import BeaconMiddleware

TARGET_US = 50.0


def answered(url: str, data: bytes, headers: dict[str, str], timeout: float) -> Answer:
    return Answer(202, None, {"accepted": 100})


def make_app(kind: str, client: Client) -> flask.Flask:
    app = flask.Flask(f"bench-{kind}")

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> dict[str, int]:
        return {"order": order_id}

    if kind == "flask":
        BeaconFlask(app, client=client, user_id=lambda: "u1")
    elif kind == "wsgi":
        app.wsgi_app = BeaconMiddleware(app.wsgi_app, client, user_id=lambda environ: "u1")  # type: ignore[method-assign]
    return app


def per_request_us(get: Callable[[], Any], requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        get()
    return (time.perf_counter() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    client = Client("bench-key", host="http://127.0.0.1:9", max_queue=100_000)
    client.sender.transport = answered
    web = {kind: make_app(kind, client).test_client() for kind in ("plain", "flask", "wsgi")}
    for test_client in web.values():  # warm up: first requests build Flask's caches
        for _ in range(200):
            test_client.get("/orders/7").close()
    times: dict[str, list[float]] = {kind: [] for kind in web}
    for _ in range(args.rounds):
        for kind, test_client in web.items():
            times[kind].append(
                per_request_us(lambda c=test_client: c.get("/orders/7").close(), args.requests)
            )
    client.flush(30)
    plain = statistics.median(times["plain"])
    print(f"requests per round: {args.requests}, rounds: {args.rounds} (median shown)")
    print(f"  without tracking (baseline)   {plain:8.1f} us per request")
    for kind, label in (("flask", "BeaconFlask"), ("wsgi", "BeaconMiddleware")):
        median = statistics.median(times[kind])
        added = median - plain
        verdict = "meets" if added < TARGET_US else "misses"
        print(
            f"  with {label:<17}        {median:8.1f} us per request: +{added:.1f} us "
            f"({verdict} the {TARGET_US:.0f} us target)"
        )
    print(f"  events sent {client.counts.sent}, dropped {client.counts.dropped_full}")


if __name__ == "__main__":
    main()
