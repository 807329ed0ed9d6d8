"""Keep web pages away from `beacon dev`'s job endpoints (rollup, alerts: erasure, exports, mail).

In the cloud those functions are private, reached only through IAM with an OIDC token. Locally
they listen on loopback, which any web page open in the developer's browser can reach too: by a
cross-site `fetch` (it sends an Origin header), or by DNS rebinding (a hostile name resolving to
127.0.0.1, so the Host header is that name). The guard refuses both, and asks every caller for a
token made fresh by each `beacon dev` run, kept in the data directory with mode 0600, which only
the local user's own commands (`beacon jobs run`, `beacon gdpr`, `beacon alerts`, the scheduler)
can read.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from functions.credentials import match_secret

JOB_TOKEN_HEADER = "X-Beacon-Job-Token"  # noqa: S105 (a header name)
_TOKEN_FILE = "job-token"  # noqa: S105 (a file name)
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def token_path(data_dir: Path) -> Path:
    return data_dir / _TOKEN_FILE


def new_job_token(data_dir: Path) -> str:
    """A fresh token for this run, written to the data directory readable by its owner only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path = token_path(data_dir)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(token)
    return token


def read_job_token(data_dir: Path) -> str | None:
    """The running `beacon dev`'s token, or None when there is none (nothing is running)."""
    try:
        return token_path(data_dir).read_text(encoding="ascii").strip() or None
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def job_headers(data_dir: Path) -> dict[str, str]:
    token = read_job_token(data_dir)
    return {JOB_TOKEN_HEADER: token} if token else {}


def is_loopback_host(host_header: str) -> bool:
    """Whether a Host header names this machine: localhost or a loopback address, any port."""
    host = urlsplit(f"//{host_header}").hostname if host_header else None
    if not host:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(environ: Mapping[str, Any], token: str) -> str | None:
    """Why the request must be refused, or None when it may go on."""
    if not is_loopback_host(str(environ.get("HTTP_HOST", ""))):
        return "the Host header must name this machine (localhost or a loopback address)"
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None and str(origin) != f"http://{environ.get('HTTP_HOST')}":
        return "requests from other web origins are refused"
    presented = str(environ.get("HTTP_" + JOB_TOKEN_HEADER.upper().replace("-", "_"), ""))
    if match_secret(presented, {token: True}) is None:
        return (
            f"the {JOB_TOKEN_HEADER} header must carry this beacon dev run's token (the file "
            "job-token in its data directory)"
        )
    return None


class LocalJobGuard:
    """WSGI middleware: answer 403 to any request `refusal` refuses."""

    def __init__(self, app: WsgiApp, token: str) -> None:
        self._app = app
        self._token = token

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        reason = refusal(environ, self._token)
        if reason is None:
            return self._app(environ, start_response)
        body = json.dumps({"error": "forbidden", "message": reason}).encode()
        start_response(
            "403 Forbidden",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]
