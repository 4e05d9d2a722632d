"""Which URLs a webhook may be sent to: the check at creation and again at every delivery.

A URL's host is resolved and every address it resolves to must be public (not loopback,
private, link-local, cloud metadata, multicast or reserved); the delivery then connects to
the address that was checked, never resolving the name a second time, so a DNS answer that
changes between the check and the connection (DNS rebinding) cannot reach an inner address.
``allow_private`` (``ROSTER_WEBHOOKS_ALLOW_PRIVATE``, for tests and development) lets
loopback and private networks through; link-local and metadata addresses never are.

A look-up is cut off after ``LOOKUP_SECONDS`` (``LookupTimedOut``): the DNS server of a
name someone chose may never answer, and a request waits for it (a mutation that sets a
URL holds no transaction meanwhile where it can: ``commit_if_alone``). The look-ups run on threads
of their own (``LOOKUP_THREADS``), not the event loop's default pool: a look-up cut off
goes on in its thread until the system's resolver gives up, and a run of them would
otherwise hold every thread of the pool that database connections and email relays
resolve their hosts on. Past those threads, a look-up waits its turn within the same
time limit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.webhooks.errors import LookupsBusy, LookupTimedOut, UnsafeUrl

MAX_URL_LENGTH = 2000
LOOKUP_SECONDS = 3.0
"""How long a host name's look-up may take (``resolve``): a URL whose name is not resolved
by then is refused, at creation and at every delivery."""
LOOKUP_THREADS = 4
_LOOKUPS = ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="roster-webhook-dns")
SCHEMES = ("https", "http")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services that are not link-local addresses (AWS's IPv6 one, Alibaba's,
# Oracle's, and Azure's WireServer, a public address that answers only inside Azure).
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("fd00:ec2::254", "100.100.100.200", "192.0.0.192", "168.63.129.16")
)


@dataclass(frozen=True)
class Target:
    """A URL, split, with the address that was checked for it."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    address: IPAddress

    @property
    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address (the one to connect to)."""
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of a URL Roster may call, or UnsafeUrl."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"Give an http(s) URL of at most {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("This is not a valid URL.") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise UnsafeUrl("Give an http(s) URL with a host name.")
    if parts.username or parts.password:
        raise UnsafeUrl("A webhook URL may not carry a user name or password.")
    if parts.fragment:
        raise UnsafeUrl("A webhook URL may not have a fragment (#...).")
    try:  # an internationalised host name is called by its ASCII (IDNA) form
        host = parts.hostname.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        raise UnsafeUrl("The host name is not valid.") from None
    port = port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, host, port, path


# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64's well-known
# prefix, RFC 6052; IPv4-compatible addresses, RFC 4291 §2.5.5.1): a gateway or stack may
# turn them into the IPv4 address they carry, so that is the address to check.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Local-use NAT64 (RFC 8215) embeds IPv4 at a place each network chooses: never called.
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


def reached(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one reaches through mapping, NAT64, 6to4 or Teredo, if it
    carries one; else the address itself."""
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in NAT64:
        return low
    if address in IPV4_COMPATIBLE and int(address) > 1:  # not :: or ::1
        return low
    return address


def refusal(address: IPAddress, allow_private: bool) -> str | None:
    """Why an address may not be called, or None."""
    if address in LOCAL_NAT64:
        return "a private or reserved address"
    address = reached(address)
    if address in METADATA or address.is_link_local:
        return "a link-local or cloud metadata address"
    if address.is_unspecified or address.is_multicast:
        return "an unspecified or multicast address"
    site_local = isinstance(address, ipaddress.IPv6Address) and address.is_site_local
    if allow_private and (address.is_loopback or address.is_private or site_local):
        return None
    if site_local:
        return "a private or reserved address"
    if address.is_loopback:
        return "a loopback address"
    if not address.is_global:
        return "a private or reserved address"
    return None


async def resolve(host: str) -> list[IPAddress]:
    """The addresses ``host`` resolves to (none if it does not); LookupTimedOut when the
    look-up takes longer than ``LOOKUP_SECONDS``, LookupsBusy when it waited that long
    for a thread (others' look-ups held every one: the refusal does not blame this
    host)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    started = threading.Event()

    def look_up():
        started.set()
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)

    try:
        async with asyncio.timeout(LOOKUP_SECONDS):
            infos = await loop.run_in_executor(_LOOKUPS, look_up)
    except TimeoutError:
        if not started.is_set():  # every look-up thread held by others: not this host's doing
            raise LookupsBusy(LOOKUP_SECONDS) from None
        raise LookupTimedOut(host, LOOKUP_SECONDS) from None
    except (OSError, UnicodeError):
        return []
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in found:
            found.append(address)
    return found


async def check(url: str, *, allow_private: bool) -> Target:
    """The URL's target: its host resolved, every address checked (UnsafeUrl if any is
    refused, none is found, or the look-up takes longer than ``LOOKUP_SECONDS``); the
    first address is the one to connect to."""
    scheme, host, port, path = parse(url)
    addresses = await resolve(host)
    if not addresses:
        raise UnsafeUrl(f"The host {host!r} does not resolve.")
    for address in addresses:
        why = refusal(address, allow_private)
        if why is not None:
            raise UnsafeUrl(f"The host {host!r} resolves to {why}, which webhooks may not call.")
    return Target(url.strip(), scheme, host, port, path, addresses[0])
