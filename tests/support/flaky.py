"""A loopback proxy in front of ingest that loses the first answer, as a network may."""

from __future__ import annotations

import http.server
import threading
from typing import Any

import requests


class FlakyProxy:
    """Forwards to ingest; answers the first request 503 after ingest stored it, so the SDK's
    retry sends the same messages again (what a lost answer does). LOSE_FIRST=False forwards
    every answer as it is. `sizes` records each POST body's length."""

    def __init__(self, target: str, *, lose_first: bool = True) -> None:
        self.target = target
        self.requests = 0
        self.sizes: list[int] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.post(
                    proxy.target + self.path, data=body, headers=headers, timeout=10
                )
                proxy.requests += 1
                proxy.sizes.append(len(body))
                lost = lose_first and proxy.requests == 1
                status = 503 if lost else answer.status_code
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in answer.headers.items():
                    if name.lower().startswith("access-control-") or name.lower() == "vary":
                        self.send_header(name, value)
                if lost:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def do_OPTIONS(self) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.options(proxy.target + self.path, headers=headers, timeout=10)
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower().startswith("access-control-") or name.lower() == "vary":
                        self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FlakyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
