"""Serve ingest locally as functions-framework does (its gunicorn app), within the bounds that
Google's front end gives it in the cloud.

functions-framework starts gunicorn with no limit on the request line and with worker threads
that block reading a request for as long as the client takes. Behind Cloud Run that is harmless:
Google's front end reads the request before the instance sees it. On loopback, eight clients
sending a byte a second held all eight threads of a 2-core machine, and an 8 MB request line
took 16 s to refuse. So here:

- the request line and headers are bounded (gunicorn's own limits, as below: 414/400 answers);
- each request must arrive whole, headers and body, within BEACON_READ_TIMEOUT_SECONDS (10) of
  its first byte: a slow header gets 408 and the connection closes; a slow body reaches ingest
  as a TimeoutError, which it answers with 408;
- there are THREADS threads, so a few slow clients, each held for that long at most, leave the
  others free.

Run as `python -m functions.local.devserver.ingest_server --port N [--host H]`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import socket
import time
from typing import Any

import functions_framework
from functions_framework._http.gunicorn import GunicornApplication
from gunicorn.workers.gthread import TConn, ThreadWorker

from functions.local.devserver.serving import source_of
from functions.registry import function_named
from functions.runtime import get_settings

LIMIT_REQUEST_LINE = 8190  # bytes of method, URL and version
LIMIT_REQUEST_FIELDS = 100  # headers
LIMIT_REQUEST_FIELD_SIZE = 8190  # bytes of one header
THREADS = 32
_TIMEOUT_BODY = b'{"error":"request_timeout","message":"the request did not arrive in time"}'
_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


class _DeadlineSocket:
    """The socket as gunicorn's parser reads it, refusing to wait past the request's deadline."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.sock = sock
        self.seconds = seconds
        self.deadline = 0.0
        self.headers_read = False

    def restart(self) -> None:
        self.deadline = time.monotonic() + self.seconds
        self.headers_read = False

    def recv(self, size: int) -> bytes:
        remaining = self.deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError("the request did not arrive in time")
            self.sock.settimeout(remaining)
            try:
                return self.sock.recv(size)
            finally:
                self.sock.settimeout(None)
        except TimeoutError:
            if self.headers_read:
                raise  # ingest is reading the body: it answers 408 itself
            with contextlib.suppress(OSError):
                self.sock.sendall(_TIMEOUT_ANSWER)
                # Shut the socket here, in this worker thread: gunicorn would otherwise close
                # it "gracefully" on its main thread, lingering up to 2 s per slow client to
                # drain what it still sends, and the main thread accepts every connection.
                self.sock.shutdown(socket.SHUT_RDWR)
            return b""  # to gunicorn, the client went away: the connection closes quietly


class _DeadlineConn(TConn):  # type: ignore[misc]
    def init(self) -> None:
        super().init()
        if self.is_http2 or self.parser is None:
            return
        unreader = self.parser.unreader
        if not isinstance(unreader.sock, _DeadlineSocket):
            unreader.sock = _DeadlineSocket(unreader.sock, get_settings().read_timeout_seconds)
        unreader.sock.restart()  # each request of a kept-alive connection has its own time


class BoundedThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's thread worker with a deadline on reading each request."""

    def accept(self, listener: socket.socket) -> None:
        # ThreadWorker.accept, making a _DeadlineConn.
        try:
            client_sock, client_addr = listener.accept()
            self.nr_conns += 1
            client_sock.setblocking(True)
            conn = _DeadlineConn(self.cfg, client_sock, client_addr, listener.getsockname())
            self.enqueue_req(conn)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise

    def handle_request(self, req: Any, conn: Any) -> Any:
        source = getattr(conn.parser, "unreader", None)
        if source is not None and isinstance(source.sock, _DeadlineSocket):
            source.sock.headers_read = True
        return super().handle_request(req, conn)


def options() -> dict[str, Any]:
    return {
        "worker_class": f"{__name__}.BoundedThreadWorker",
        "threads": THREADS,
        "limit_request_line": LIMIT_REQUEST_LINE,
        "limit_request_fields": LIMIT_REQUEST_FIELDS,
        "limit_request_field_size": LIMIT_REQUEST_FIELD_SIZE,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the ingest function on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    spec = function_named("ingest")
    app = functions_framework.create_app(  # type: ignore[no-untyped-call]
        target=spec.entry_point, source=str(source_of("ingest")), signature_type=spec.kind
    )
    server = GunicornApplication(app, args.host, args.port, False, **options())  # type: ignore[no-untyped-call]
    server.run()


if __name__ == "__main__":
    main()
