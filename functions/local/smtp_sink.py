"""A local SMTP server that keeps every mail it receives as an .eml file (for `beacon dev`).

It accepts any sender and recipient and relays nothing, so alert mails can be read on disk
instead of leaving the machine. With `users`, it also demands AUTH (over plain loopback), which
lets tests exercise the mailer's login.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port(host: str = "127.0.0.1") -> int:
    # aiosmtpd's Controller cannot bind port 0 (it checks readiness on the port it was given).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _EmlWriter:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        partial = path.with_suffix(".part")
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.replace(path)  # readers never see half a mail
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(
        self,
        directory: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        users: Mapping[str, str] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.host = host
        self.port = port or free_port(host)
        self.users = dict(users or {})
        self._controller: Controller | None = None

    def start(self) -> SmtpSink:
        self.directory.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {}
        if self.users:
            options = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": False,  # loopback only
            }
        self._controller = Controller(
            _EmlWriter(self.directory), hostname=self.host, port=self.port, **options
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def messages(self) -> list[EmailMessage]:
        """Every mail received so far, oldest first."""
        found = []
        for path in sorted(self.directory.glob("*.eml")):
            parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(parsed, EmailMessage)  # policy.default builds EmailMessage
            found.append(parsed)
        return found

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)
