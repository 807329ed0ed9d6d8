"""A small Flask API with Beacon's tracking, driving itself: `make demo-flask` next to `make run`.

It serves /orders/<id>, /search and /boom (which fails) on loopback, records every request as an
`api_call` and every crash as an `error` through BeaconFlask, and sends itself a stream of
requests so the dashboard's API latency, error and search panels move. Ctrl-C stops it (the
client flushes first).
"""

from __future__ import annotations

import argparse
import random
import threading
import time
import urllib.error
import urllib.request

import flask
from beacon_client import Client
from beacon_client.flask import BeaconFlask
from werkzeug.serving import make_server

DEV_WRITE_KEY = "dev-write-key-NOT-FOR-PRODUCTION"


def build_app(client: Client) -> flask.Flask:
    app = flask.Flask("beacon-flask-demo")
    beacon = BeaconFlask(app, client=client, user_id=lambda: flask.request.args.get("user"))

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> dict[str, int]:
        time.sleep(random.uniform(0.005, 0.05))
        return {"order": order_id}

    @app.get("/search")
    def search() -> dict[str, object]:
        query = flask.request.args.get("q", "")
        results = random.randint(0, 5)
        beacon.track("search", properties={"query": query, "result_count": results})
        return {"query": query, "results": results}

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("the demo's planted failure")

    return app


def drive(base_url: str, requests: int, pause: float, stop: threading.Event) -> None:
    paths = ["/orders/{n}", "/orders/{n}", "/search?q=plumber", "/search?q=tutor", "/boom"]
    for number in range(requests):
        if stop.is_set():
            return
        path = random.choice(paths).format(n=number)
        user = f"u{random.randint(1, 20)}"
        sep = "&" if "?" in path else "?"
        try:
            with urllib.request.urlopen(f"{base_url}{path}{sep}user={user}", timeout=5):  # noqa: S310
                pass
        except urllib.error.HTTPError:
            pass  # /boom answers 500, on purpose
        stop.wait(pause)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingest", default="http://127.0.0.1:8080", help="Beacon ingest URL")
    parser.add_argument("--write-key", default=DEV_WRITE_KEY)
    parser.add_argument("--port", type=int, default=5050, help="port of the demo API")
    parser.add_argument("--requests", type=int, default=100_000, help="requests to send itself")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between them")
    args = parser.parse_args(argv)
    client = Client(args.write_key, host=args.ingest, platform="server")
    server = make_server("127.0.0.1", args.port, build_app(client), threaded=True)
    # Request threads that server_close() waits for: a request is recorded when its response
    # is closed, just after the caller has read it, so the last ones finish after the loop.
    server.daemon_threads = False
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    base_url = f"http://127.0.0.1:{server.server_port}"
    print(f"demo API on {base_url}, tracked into {args.ingest} (Ctrl-C stops)", flush=True)
    stop = threading.Event()
    try:
        drive(base_url, args.requests, args.pause, stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        server.shutdown()
        server.server_close()
        client.flush(10)
        counts = client.counts
        print(f"events sent {counts.sent}, rejected {counts.rejected}, failed {counts.failed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
