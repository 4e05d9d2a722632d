"""X-Forwarded-For is believed only from the configured trusted proxies (none by default):
from any other peer the request is counted, limited and audited under the peer's address."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.main import create_app
from app.security.client_address import client_address, parse_networks
from app.services import Services
from tests.conftest import make_settings
from tests.factories import Api, error_codes, make_tenant

RESET = 'mutation { passwordResetRequest(input: {email: "x%d@example.com"}) { ok } }'
PROJECT = 'mutation { projectCreate(input: {name: "P%d"}) { userErrors { code } } }'


async def serve(database_url, trusted: list[str]):
    settings = make_settings(
        database_url, trusted_proxies=trusted, rate_limits={"password_reset_address": 2}
    )
    services = Services.from_settings(settings)
    return services, create_app(settings, services=services)


def client_from(app, peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://roster.test")


async def resets(app, peer: str, forwarded: list[str]) -> list[list[str]]:
    codes = []
    async with client_from(app, peer) as client:
        api = Api(client)
        for i, xff in enumerate(forwarded):
            response = await api.raw(RESET % i, headers={"X-Forwarded-For": xff})
            codes.append(error_codes(response.json()))
    return codes


async def audited_address(services, app, peer: str, xff: str) -> str:
    tenant = await make_tenant(services)
    async with client_from(app, peer) as client:
        response = await Api(client).raw(
            PROJECT % 1, token=tenant.owner.token, realm=tenant.owner.realm,
            headers={"X-Forwarded-For": xff},
        )
        assert response.status_code == 200 and not response.json().get("errors")
    async with services.db.session() as session:
        entry = await session.scalar(
            select(AuditEntry)
            .where(AuditEntry.action == "projectCreate")
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
    return entry.client_address


@pytest.mark.parametrize("peer", ["127.0.0.1", "203.0.113.9"])
async def test_forwarded_for_from_an_untrusted_peer_is_ignored(database_url, peer):
    services, app = await serve(database_url, trusted=[])
    try:
        # a new forged address each time does not escape the per-address limit
        codes = await resets(app, peer, ["198.51.100.1", "198.51.100.2", "198.51.100.3"])
        assert codes == [[], [], ["RATE_LIMITED"]]
        assert await audited_address(services, app, peer, "198.51.100.4") == peer
    finally:
        await services.close()


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(database_url):
    services, app = await serve(database_url, trusted=["10.0.0.0/8"])
    try:
        # each forwarded client has its own counter ...
        codes = await resets(app, "10.1.2.3", ["198.51.100.1", "198.51.100.2", "198.51.100.3"])
        assert codes == [[], [], []]
        # ... and what a client prepends itself is ignored: the proxy appends the real one
        forged = [f"6.6.6.{i}, 198.51.100.7" for i in range(3)]
        assert await resets(app, "10.1.2.3", forged) == [[], [], ["RATE_LIMITED"]]
        # chained trusted proxies are skipped
        assert (
            await audited_address(services, app, "10.1.2.3", "6.6.6.6, 192.0.2.5, 10.9.9.9")
            == "192.0.2.5"
        )
        # a peer outside the trusted networks is still itself
        assert await audited_address(services, app, "192.0.2.77", "10.0.0.1") == "192.0.2.77"
    finally:
        await services.close()


def test_choosing_the_client_address():
    nets = parse_networks(["10.0.0.0/8", "::1"])
    assert client_address("10.0.0.1", ["1.2.3.4"], nets) == "1.2.3.4"
    assert client_address("10.0.0.1", ["9.9.9.9, 1.2.3.4, 10.0.0.2"], nets) == "1.2.3.4"
    assert client_address("10.0.0.1", ["9.9.9.9", "1.2.3.4"], nets) == "1.2.3.4"
    assert client_address("10.0.0.1", ["10.0.0.3"], nets) == "10.0.0.3"
    assert client_address("10.0.0.1", ["garbage"], nets) == "10.0.0.1"
    assert client_address("10.0.0.1", ["1.2.3.4, garbage"], nets) == "10.0.0.1"
    assert client_address("10.0.0.1", ["[2001:db8::1]:443"], nets) == "2001:db8::1"
    assert client_address("::1", ["1.2.3.4:5555"], nets) == "1.2.3.4"
    assert client_address("1.2.3.4", ["10.0.0.1"], nets) == "1.2.3.4"
    assert client_address("10.0.0.1", ["1.2.3.4"], ()) == "10.0.0.1"


def test_trusted_proxies_setting(monkeypatch, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/x.db"
    assert make_settings(url).trusted_proxies == []
    monkeypatch.setenv("ROSTER_TRUSTED_PROXIES", '["10.0.0.0/8", "192.0.2.1"]')
    assert make_settings(url, environment=True).trusted_proxies == ["10.0.0.0/8", "192.0.2.1"]
    with pytest.raises(ValidationError):
        make_settings(url, trusted_proxies=["not an address"])


def test_serve_leaves_forwarded_headers_to_the_app(monkeypatch):
    """uvicorn's own proxy-header handling (trusting 127.0.0.1) is turned off."""
    import uvicorn
    from typer.testing import CliRunner

    import app.cli as cli
    import app.db.migrate as migrate

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.setattr(migrate, "upgrade_to_head", lambda url: None)
    result = CliRunner().invoke(cli.cli, ["serve"])
    assert result.exit_code == 0, result.output
    assert seen["proxy_headers"] is False
