"""The client's address, decided in one place for rate limits, the audit log and logs.

The peer of the TCP connection is the client, unless that peer is one of the configured
trusted proxies (``ROSTER_TRUSTED_PROXIES``, addresses or CIDR networks, none by default):
then ``X-Forwarded-For`` is read from the right, skipping trusted proxies, and the first
address that is not one is the client. Anything a client writes further left is ignored,
and a request from an untrusted peer is never rewritten, whatever headers it carries.

The server must not rewrite the address itself: ``roster serve`` runs uvicorn with
``proxy_headers=False`` (uvicorn otherwise trusts ``X-Forwarded-For`` from 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

IPV6_CLIENT_PREFIX = 64
"""An IPv6 client holds at least a /64 (one customer line, one host's privacy addresses):
per-address limits count the network, or each client would have 2**64 addresses."""


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.1", "192.168.0.0/16", "::1"]`` as networks; ValueError on anything else."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values)


def _address(text: str):
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "1.2.3.4:5678"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address, networks: tuple[Network, ...]) -> bool:
    if address is None:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def in_networks(address: str, networks: tuple[Network, ...]) -> bool:
    """Whether ``address`` (an address as a client's host is written) is in one of
    ``networks``; False for anything that is not an address."""
    return _trusted(_address(address), networks)


def limit_subject(address: str) -> str:
    """What per-address rate limits count for a client address: an IPv4 address (also when
    seen as IPv4-mapped IPv6), or an IPv6 client's /64 network. Anything that is not an
    address (a test client's name) is counted as it is."""
    parsed = _address(address)
    if parsed is None:
        return address
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(parsed)


def client_address(peer: str | None, forwarded_for: list[str], networks: tuple[Network, ...]):
    """The client's address given the connection's peer and the X-Forwarded-For headers."""
    if peer is None or not networks or not _trusted(_address(peer), networks):
        return peer
    hops = [h for header in forwarded_for for h in header.split(",") if h.strip()]
    client = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # not an address: stop at the last hop we could trust
            break
        client = str(address)
        if not _trusted(address, networks):
            break
    return client


class ClientAddressMiddleware:
    """Sets ``scope["client"]`` to the client's address (see the module's docstring)."""

    def __init__(self, app, trusted_proxies: Iterable[str] = ()):
        self.app = app
        self.networks = parse_networks(trusted_proxies)

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and self.networks:
            peer = scope.get("client")
            forwarded = [
                v.decode("latin-1")
                for k, v in scope.get("headers") or []
                if k == b"x-forwarded-for"
            ]
            if peer and forwarded:
                host = client_address(peer[0], forwarded, self.networks)
                if host != peer[0]:
                    scope = dict(scope, client=(host, 0))
        await self.app(scope, receive, send)
