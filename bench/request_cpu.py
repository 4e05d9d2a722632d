"""Server CPU per request of the suite's documents, in one process, without an HTTP client:
Roster's app and the floor (``bench.floor``) are called as ASGI applications directly, so
the figures hold the servers' own work only (no client, no HTTP parsing). Run it from two
checkouts, alternating, to compare them side by side.

    python -m bench.request_cpu [--documents "tour: chart,viewer" | --documents all]
                                [--size 1000] [--rounds 5] [--requests 50]
                                [--postgres-url URL]

Seeds one account of ``--size`` staff on SQLite in a temporary directory (or, with
``--postgres-url``, in that PostgreSQL database, emptied first) with the suite's
data (``bench.suite``: a viewer, invitations, audit-log entries), checks that Roster and the
floor answer each document the floor serves with the same JSON, then prints for each
document and role Roster's and the floor's CPU milliseconds per request, each the best of
``--rounds`` rounds of ``--requests`` requests (``time.process_time``: the event loop's and
aiosqlite's threads; PostgreSQL's own CPU is not counted), and the median of the rounds'
ratios, Roster's and the floor's requests taking turns within each round.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from bench.seed import seed
from bench.suite import Caller, add_viewer, cases, chosen_documents, context_of, through_the_api
from bench.suite_documents import ADMIN, VIEWER


async def call(app, body: bytes, headers: dict[str, str]) -> bytes:
    """One POST /graphql straight into the ASGI app; the response body."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    parts: list[bytes] = []

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects

    async def send(message):
        if message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(parts)


async def _best(
    apps: dict, body: bytes, headers: dict, rounds: int, requests: int
) -> tuple[dict, float | None]:
    """Each app's best round (CPU ms per request), and the median of the rounds' ratios
    of the first app to the second (None for one app). Within a round the apps take turns
    request by request (the order alternating), so that both meet the machine as it is at
    the same moments: the ratio of a round moves less with other load than either figure."""
    names = list(apps)
    best = dict.fromkeys(names, float("inf"))
    ratios = []
    for _ in range(rounds):
        spent = dict.fromkeys(names, 0.0)
        for i in range(requests):
            for name in names if i % 2 == 0 else reversed(names):
                started = time.process_time()
                await call(apps[name], body, headers)
                spent[name] += time.process_time() - started
        for name in names:
            best[name] = min(best[name], spent[name] / requests * 1000)
        if len(names) == 2:
            ratios.append(spent[names[0]] / spent[names[1]])
    return best, statistics.median(ratios) if ratios else None


async def measure(url: str, account, names: set[str] | None, rounds: int, requests: int):
    from app.main import create_app
    from app.services import Services
    from app.settings import Settings
    from bench import floor

    services = Services.from_settings(Settings(database_url=url, email_relay_enabled=False))
    roster = create_app(services.settings, services=services)
    floor_app = floor.create_app(url)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(services.close)
        await stack.enter_async_context(roster.router.lifespan_context(roster))
        await stack.enter_async_context(floor_app.router.lifespan_context(floor_app))
        viewer_token = await add_viewer(services.db, services.passwords, account)
        callers = {
            ADMIN: Caller(ADMIN, account.admin_token, account.slug),
            VIEWER: Caller(VIEWER, viewer_token, account.slug),
        }
        transport = httpx.ASGITransport(app=roster)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await through_the_api(client, callers[ADMIN])
            context = await context_of(client, callers[ADMIN])
        for doc, caller, body in cases(context, callers, names):
            apps = {"roster": roster}
            if floor.serves(orjson.loads(body)):
                answers = {await call(a, body, caller.headers) for a in (roster, floor_app)}
                assert len(answers) == 1, f"{doc.name}: Roster and the floor answer differently"
                apps["floor"] = floor_app
            best, ratio = await _best(apps, body, caller.headers, rounds, requests)
            line = f"{doc.name:24} {caller.role:13} Roster {best['roster']:6.3f} ms"
            if ratio is not None:
                line += f"  floor {best['floor']:6.3f} ms  {ratio:5.2f}x"
            print(line, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", default="all", help="suite documents, or all")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--postgres-url", help="measure on this PostgreSQL database instead")
    args = parser.parse_args(argv)
    names = None if args.documents == "all" else chosen_documents(args.documents)
    with tempfile.TemporaryDirectory(prefix="roster-cpu-") as work:
        url = args.postgres_url or f"sqlite+aiosqlite:///{Path(work) / 'bench.db'}"
        [account] = seed(url, [args.size])
        print(f"{'postgresql' if args.postgres_url else 'sqlite'}, {args.size} staff")
        asyncio.run(measure(url, account, names, args.rounds, args.requests))


if __name__ == "__main__":
    main()
