"""The relay's connection to the mail server is encrypted whenever it can be: a server that
offers STARTTLS is taken up on it (the default), one that requires it gets it, and in
production an SMTP login is never sent where TLS is not required. A real SMTP server on
loopback (aiosmtpd) with a certificate made for the test, trusted through SMTP_CA_FILE."""

from __future__ import annotations

import datetime
import ipaddress
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.settings import InsecureSettingsError, Settings
from tests.conftest import make_settings
from tests.factories import SmtpSink, make_tenant
from tests.test_app import PRODUCTION_SECRETS

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { userErrors { code } }
}"""


def _certificate(directory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "roster test relay")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "relay.pem", directory / "relay.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


class StartTlsSink(SmtpSink):
    """An SMTP server that takes mail only after STARTTLS; notes whether each was
    encrypted."""

    def __init__(self, context: ssl.SSLContext):
        super().__init__()
        self.context = context
        self.encrypted: list[bool] = []

    async def handle_DATA(self, server, session, envelope):
        self.encrypted.append(session.ssl is not None)
        return await super().handle_DATA(server, session, envelope)

    def start(self) -> StartTlsSink:
        from aiosmtpd.controller import Controller

        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=self.context,
            require_starttls=True,
        )
        self._controller.start()
        return self


@pytest.fixture
def relay_certificate(tmp_path):
    return _certificate(tmp_path)


@pytest.fixture
def smtp(relay_certificate):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*relay_certificate)
    sink = StartTlsSink(context).start()
    yield sink
    sink.stop()


@pytest.fixture
def settings(database_url, smtp, relay_certificate):
    return make_settings(
        database_url,
        email_backend="smtp",
        smtp_port=smtp.port,
        smtp_timeout_seconds=5,
        smtp_ca_file=relay_certificate[0],
    )


async def test_the_relay_takes_the_starttls_the_server_offers(api, services, smtp):
    """By default (SMTP_STARTTLS unset) the relay upgrades the connection when the server
    offers it: an invitation's link never crosses the network in clear to a server that
    could encrypt it (this one refuses mail without)."""
    tenant = await make_tenant(services)
    body = await api.data(INVITE, {"input": {"email": "far@example.com"}}, as_=tenant.owner)
    assert body["invitationCreate"]["userErrors"] == []
    while await services.relay.run_once():
        pass
    [message] = await smtp.wait_for(1)
    assert message["To"] == "far@example.com"
    assert smtp.encrypted == [True]


@pytest.mark.parametrize(
    ("host", "tls", "refused"),
    [
        ("smtp.example.com", {}, True),  # offered STARTTLS can be stripped on the way
        ("smtp.example.com", {"smtp_starttls": False}, True),
        ("smtp.example.com", {"smtp_starttls": True}, False),
        ("smtp.example.com", {"smtp_tls": True, "smtp_port": 465}, False),
        ("127.0.0.1", {}, False),  # a relay on this machine
    ],
)
def test_production_sends_an_smtp_login_only_over_tls(host, tls, refused):
    production = dict(
        PRODUCTION_SECRETS,
        public_url="https://roster.example",
        email_backend="smtp",
        smtp_host=host,
        smtp_username="roster",
        smtp_password="a relay password",
        **tls,
    )
    settings = Settings(**production)
    if refused:
        with pytest.raises(InsecureSettingsError, match="ROSTER_SMTP_USERNAME is sent"):
            settings.check_production_ready()
    else:
        settings.check_production_ready()
