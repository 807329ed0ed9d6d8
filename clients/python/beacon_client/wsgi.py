"""`BeaconMiddleware`: any WSGI app's requests as `api_call` events, its crashes as `error` events.

    app.wsgi_app = BeaconMiddleware(app.wsgi_app, client=client)

The duration runs until the response body is fully sent (the iterable closed). The route is the
path with its ids replaced (`/orders/{id}`); a framework that knows its route templates (Flask:
`beacon_client.flask`) records those instead. Tracking never raises into the app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from beacon_client._requests import DEFAULT_EXCLUDE, excluded, route_template, sampled
from beacon_client.client import Client

logger = logging.getLogger("beacon_client")
Environ = dict[str, Any]
# What a framework that knows more may leave in the environ (beacon_client.flask does).
ROUTE_KEY = "beacon.route"  # the route template, e.g. /orders/<int:order_id>
USER_KEY = "beacon.user_id"
ERROR_KEY = "beacon.error"  # an exception the framework caught and answered 500 for
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class BeaconMiddleware:
    def __init__(
        self,
        app: WsgiApp,
        client: Client,
        *,
        user_id: Callable[[Environ], str | None] | None = None,
        exclude: Iterable[str] = DEFAULT_EXCLUDE,
        sample_rate: float = 1.0,
    ) -> None:
        self.app = app
        self.client = client
        self.user_id = user_id
        self.exclude = tuple(exclude)
        self.sample_rate = sample_rate

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if excluded(path, self.exclude) or not sampled(self.sample_rate):
            return self.app(environ, start_response)
        started = time.perf_counter()
        status: list[int] = []

        def recording_start_response(code: str, headers: Any, *args: Any) -> Any:
            status.append(int(code.split(" ", 1)[0]))
            return start_response(code, headers, *args)

        try:
            body = self.app(environ, recording_start_response)
        except Exception as exc:
            self._record(environ, path, 500, started, exc)
            raise

        def finished() -> None:
            code = status[0] if status else 500
            self._record(environ, path, code, started, environ.get(ERROR_KEY))

        return _Finishing(body, finished)

    def _record(
        self, environ: Environ, path: str, status: int, started: float, exc: BaseException | None
    ) -> None:
        try:
            duration_ms = (time.perf_counter() - started) * 1000
            if USER_KEY in environ:
                user = environ[USER_KEY]
            else:
                user = self.user_id(environ) if self.user_id else None
            route = environ.get(ROUTE_KEY) or route_template(path)
            method = environ.get("REQUEST_METHOD", "GET")
            self.client.api_call(
                route,
                duration_ms=round(duration_ms, 3),
                success=status < 500 and exc is None,
                user_id=user,
                error_type=type(exc).__name__
                if exc
                else (f"http_{status}" if status >= 500 else None),
                properties={"method": method, "status": status},
            )
            if exc is not None:
                self.client.error(
                    type(exc).__name__, str(exc), user_id=user, properties={"route": route}
                )
        except Exception:
            logger.exception("beacon: could not record a request")


class _Finishing:
    """The app's response body, calling `done` once, when it has all been sent or closed.

    Both ends count: a server calls close() after sending, but Werkzeug's development server
    skips it when the client resets the connection while the server drains the request.
    """

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self._body = body
        self._done: Callable[[], None] | None = done

    def __iter__(self) -> Iterator[bytes]:
        yield from self._body
        self._finish()

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()

    def _finish(self) -> None:
        if self._done is not None:
            done, self._done = self._done, None
            done()
