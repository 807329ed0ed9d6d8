"""Alert mail over TLS: STARTTLS and implicit TLS with AUTH, against a real SMTP server on loopback.

The server is aiosmtpd with a throw-away CA and server certificate made at test time. The mailer
verifies certificates like any TLS client, so each test trusts that CA via BEACON_SMTP_CA_FILE,
except the one checking that an untrusted certificate is refused.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from functions.alerts.mailer import Mailer
from functions.alerts.runner import run_alerts
from functions.alerts.state import AlertRow, history
from functions.local.duckdb_warehouse import DuckDBWarehouse
from functions.local.smtp_sink import free_port
from functions.settings import Settings

# Noon on a working day with an empty warehouse: the silence check fires, so every run below
# has exactly one alert row to mail.
NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
USER, PASSWORD = "beacon", "s3cret-relay-password"
MECHANISMS = ("LOGIN", "PLAIN")


@dataclass(frozen=True)
class Certificates:
    ca: Path  # what the mailer is told to trust
    cert: Path  # the server's chain: its own certificate, signed by the CA
    key: Path


def _write_certificates(directory: Path) -> Certificates:
    """A CA and a server certificate for localhost and 127.0.0.1, valid for a day."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Beacon test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        # The mailer connects to 127.0.0.1, so the IP address must be in the names it checks.
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return _write_certificates(tmp_path_factory.mktemp("tls"))


@dataclass
class Relay:
    """What the server saw: each login attempt and each mail it accepted."""

    port: int
    logins: list[dict[str, Any]] = field(default_factory=list)
    mails: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append(
            {
                "mechanism": mechanism,
                "user": auth_data.login.decode(),
                # The server's own view of the channel the password arrived on.
                "encrypted": server.transport.get_extra_info("ssl_object") is not None,
            }
        )
        ok = (auth_data.login.decode(), auth_data.password.decode()) == (USER, PASSWORD)
        return AuthResult(success=ok, handled=False)


@contextmanager
def relay(
    security: str, certificates: Certificates, mechanism: str | None = None
) -> Iterator[Relay]:
    """An SMTP server on loopback speaking `security` (none, starttls or ssl).

    With a mechanism, AUTH is required and only that mechanism is offered, so the mailer has to
    use it (smtplib would otherwise always pick PLAIN).
    """
    server = Relay(port=free_port())
    options: dict[str, Any] = {}
    if security != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificates.cert, certificates.key)
        if security == "starttls":
            options = {"tls_context": context, "require_starttls": True}
        else:
            options = {"ssl_context": context}
    if mechanism is not None:
        options.update(
            authenticator=server.authenticate,
            auth_required=True,
            auth_exclude_mechanism=[m for m in MECHANISMS if m != mechanism],
            # aiosmtpd only counts STARTTLS as TLS: over implicit TLS, auth_require_tls=True
            # would refuse every AUTH (aio-libs/aiosmtpd#281). There the whole connection is
            # encrypted anyway, and each test asserts the password arrived encrypted.
            auth_require_tls=security == "starttls",
        )
    controller = Controller(server, hostname="127.0.0.1", port=server.port, **options)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def settings(tmp_path: Path, certificates: Certificates) -> Settings:
    return Settings(
        data_dir=tmp_path,
        alert_recipients=("ops@example.com",),
        alert_from="beacon@example.com",
        smtp_host="127.0.0.1",
        smtp_ca_file=str(certificates.ca),
    )


def run(warehouse: DuckDBWarehouse, settings: Settings, now: datetime) -> dict[str, Any]:
    mailer = Mailer(settings, attempts=3, backoff_seconds=0.01, timeout_seconds=5)
    return run_alerts(warehouse, settings, now=now, mailer=mailer)


def silence_row(warehouse: DuckDBWarehouse) -> AlertRow:
    [row] = [
        row for row in history(warehouse, NOW - timedelta(days=1)) if row.check_name == "silence"
    ]
    return row


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_mail_goes_out_over_tls_after_logging_in_with_the_right_password(
    warehouse: DuckDBWarehouse,
    settings: Settings,
    certificates: Certificates,
    security: str,
    mechanism: str,
) -> None:
    with relay(security, certificates, mechanism) as server:
        secure = replace(
            settings,
            smtp_port=server.port,
            smtp_security=security,
            smtp_user=USER,
            smtp_password=PASSWORD,
        )
        summary = run(warehouse, secure, NOW)
    assert summary["mails_sent"] == 1
    assert server.logins == [{"mechanism": mechanism, "user": USER, "encrypted": True}]
    assert len(server.mails) == 1
    assert b"[Beacon][CRITICAL] minutes without events" in server.mails[0]
    row = silence_row(warehouse)
    assert row.sent
    assert row.attempts == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_wrong_password_leaves_the_alert_unsent_until_a_run_with_the_right_one(
    warehouse: DuckDBWarehouse,
    settings: Settings,
    certificates: Certificates,
    security: str,
    mechanism: str,
) -> None:
    with relay(security, certificates, mechanism) as server:
        wrong = replace(
            settings,
            smtp_port=server.port,
            smtp_security=security,
            smtp_user=USER,
            smtp_password="not-the-password",
        )
        first = run(warehouse, wrong, NOW)
        assert first["mails_pending"] == 1
        assert server.mails == []
        row = silence_row(warehouse)
        assert not row.sent
        assert row.attempts == 3
        right = replace(wrong, smtp_password=PASSWORD)
        run(warehouse, right, NOW + timedelta(minutes=5))
        run(warehouse, right, NOW + timedelta(minutes=10))
    assert len(server.mails) == 1
    assert [login["mechanism"] for login in server.logins] == [mechanism] * 4
    assert all(login["encrypted"] for login in server.logins)
    row = silence_row(warehouse)
    assert row.sent
    assert row.sent_at == NOW + timedelta(minutes=5)
    assert row.attempts == 4


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_server_certificate_from_an_untrusted_ca_is_refused_before_logging_in(
    warehouse: DuckDBWarehouse,
    settings: Settings,
    certificates: Certificates,
    security: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # No BEACON_SMTP_CA_FILE: the system trust store, which has never heard of the test CA.
    with relay(security, certificates, "PLAIN") as server:
        untrusting = replace(
            settings,
            smtp_port=server.port,
            smtp_security=security,
            smtp_user=USER,
            smtp_password=PASSWORD,
            smtp_ca_file="",
        )
        summary = run(warehouse, untrusting, NOW)
    assert summary["mails_pending"] == 1
    assert server.logins == []
    assert server.mails == []
    assert not silence_row(warehouse).sent
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


def test_starttls_against_a_server_without_starttls_leaves_the_alert_unsent_cleanly(
    warehouse: DuckDBWarehouse,
    settings: Settings,
    certificates: Certificates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with relay("none", certificates) as server:
        insisting = replace(settings, smtp_port=server.port, smtp_security="starttls")
        with caplog.at_level(logging.WARNING):
            summary = run(warehouse, insisting, NOW)  # returns: nothing escapes the run
    assert summary["mails_pending"] == 1
    assert summary["errors"] == {}
    assert server.mails == []
    row = silence_row(warehouse)
    assert not row.sent
    assert row.attempts == 3
    assert "STARTTLS extension not supported by server" in caplog.text
    # A failed delivery is an expected outcome, logged as one line, not as a crash.
    assert all(record.exc_info is None for record in caplog.records)


def test_smtp_ca_file_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"BEACON_SMTP_CA_FILE": " certs/relay-ca.pem "})
    assert settings.smtp_ca_file == "certs/relay-ca.pem"
    assert Settings.from_env({}).smtp_ca_file == ""
