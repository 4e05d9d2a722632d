"""Per-address limits meeting the client address: a client that holds an IPv6 network
(a /64 is what one customer line or host gets) is one address to the limits, and an
IPv4 client seen as IPv4-mapped IPv6 is the same client as over IPv4."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import Api, error_codes

RESET = 'mutation { passwordResetRequest(input: {email: "nobody@example.com"}) { ok } }'


async def ask_from(app, address: str) -> list:
    transport = httpx.ASGITransport(app=app, client=(address, 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://roster.test") as client:
        return error_codes(await Api(client)(RESET))


@pytest.mark.parametrize(
    "addresses",
    [
        [f"2001:db8:5:6::{i:x}" for i in range(1, 12)],
        [f"2001:db8:5:6:{i:x}:{i:x}:{i:x}:1" for i in range(1, 12)],
        ["203.0.113.5", "::ffff:203.0.113.5"] * 5 + ["203.0.113.5"],
    ],
    ids=["one-64-many-hosts", "one-64-random-suffixes", "ipv4-and-mapped"],
)
async def test_the_reset_limit_holds_across_one_clients_addresses(app, addresses):
    answers = [await ask_from(app, address) for address in addresses]
    assert answers[:10] == [[]] * 10
    assert answers[10] == ["RATE_LIMITED"]


async def test_neighbouring_networks_have_their_own_limits(app):
    for i in range(10):
        assert await ask_from(app, f"2001:db8:5:6::{i + 1:x}") == []
    assert await ask_from(app, "2001:db8:5:7::1") == []
    assert await ask_from(app, "198.51.100.7") == []
