"""The staff page in one process: the compiled plan, graphql-core and the floor, side by side.

    python -m bench.hot_paths [--db sqlite|postgresql] [--size 500] [--rounds 5] [--requests 20]
                              [--documents "tour: chart,viewer" | --documents all]

Seeds one account (SQLite in a temporary directory, or the ``bench`` PostgreSQL database),
builds two apps on it, one with ``hot_paths=False``, and the floor (``bench.floor``), checks
they answer the page query identically, then times interleaved batches of requests through
an in-process ASGI client and prints the best CPU milliseconds per request of each, and the
ratios. The client's own work is included in all three, so ratios understate the
differences in the servers; the figures move far less with the machine's load than wrk's.

``--documents`` times the named documents of the suite (``bench.suite_documents``; ``all``
for every one) instead of the page, for each role the suite sends them as, on the data
``bench.suite`` makes (a viewer, invitations, audit-log entries); the floor where it
serves the document.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.queries import PAGE_QUERY
from bench.run import POSTGRES_URL
from bench.seed import seed
from bench.suite import chosen_documents


async def _clients(stack: contextlib.AsyncExitStack, url: str) -> tuple[dict, Any]:
    """In-process clients of Roster with its plans, without them, and of the floor; and
    the services of the app without them."""
    from app.main import create_app
    from app.services import Services
    from app.settings import Settings
    from bench import floor

    apps = {}
    for name, hot in (("compiled plan", True), ("graphql-core", False)):
        settings = Settings(database_url=url, hot_paths=hot, email_relay_enabled=False)
        made = Services.from_settings(settings)
        stack.push_async_callback(made.close)
        apps[name] = create_app(settings, services=made)
    apps["floor"] = floor.create_app(url)
    await stack.enter_async_context(apps["floor"].router.lifespan_context(apps["floor"]))
    clients = {
        name: await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
        )
        for name, app in apps.items()
    }
    return clients, made


async def _time(clients: dict, content: bytes, headers: dict, rounds: int, requests: int) -> str:
    """Checks every client answers the same, then the best CPU ms per request of each."""
    headers = {**headers, "Content-Type": "application/json"}
    answers = {
        name: (await client.post("/graphql", content=content, headers=headers)).json()
        for name, client in clients.items()
    }
    first = next(iter(answers.values()))
    assert "errors" not in first, first
    assert all(a == first for a in answers.values()), "answers differ"
    best = dict.fromkeys(clients, float("inf"))
    for _ in range(rounds):
        for name, client in clients.items():
            started = time.process_time()
            for _ in range(requests):
                await client.post("/graphql", content=content, headers=headers)
            best[name] = min(best[name], (time.process_time() - started) / requests * 1000)
    base = best.get("floor", best["graphql-core"])
    return "  ".join(
        f"{name} {ms:6.2f} ms/req ({ms / base:.2f}x {'floor' if 'floor' in best else 'core'})"
        for name, ms in best.items()
    )


async def measure(url: str, slug: str, token: str, rounds: int, requests: int) -> None:
    async with contextlib.AsyncExitStack() as stack:
        clients, _ = await _clients(stack, url)
        headers = {"Authorization": f"Bearer {token}", "X-Auth-Realm": slug}
        for first in (50, 100):
            body = orjson.dumps({"query": PAGE_QUERY, "variables": {"first": first}})
            print(f"first={first:3}  " + await _time(clients, body, headers, rounds, requests))


async def measure_documents(
    url: str, account, names: set[str] | None, rounds: int, requests: int
) -> None:
    """The suite's documents, on the suite's data, for each of their roles."""
    from bench import floor
    from bench.suite import Caller, add_viewer, cases, context_of, through_the_api
    from bench.suite_documents import ADMIN, VIEWER

    async with contextlib.AsyncExitStack() as stack:
        clients, services = await _clients(stack, url)
        core = clients["graphql-core"]
        viewer_token = await add_viewer(services.db, services.passwords, account)
        callers = {
            ADMIN: Caller(ADMIN, account.admin_token, account.slug),
            VIEWER: Caller(VIEWER, viewer_token, account.slug),
        }
        await through_the_api(core, callers[ADMIN])
        context = await context_of(core, callers[ADMIN])
        for doc, caller, body in cases(context, callers, names):
            served = clients if floor.serves(orjson.loads(body)) else {
                name: client for name, client in clients.items() if name != "floor"
            }
            timed = await _time(served, body, caller.headers, rounds, requests)
            print(f"{doc.name:24} {caller.role:13} {timed}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--documents", default=None, help="suite documents, or all")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="roster-hot-") as work:
        url = (
            f"sqlite+aiosqlite:///{Path(work) / 'bench.db'}"
            if args.db == "sqlite"
            else POSTGRES_URL
        )
        account = seed(url, [args.size])[0]
        print(f"{args.db}, {args.size} staff")
        if args.documents is None:
            asyncio.run(
                measure(url, account.slug, account.admin_token, args.rounds, args.requests)
            )
        else:
            names = None if args.documents == "all" else chosen_documents(args.documents)
            asyncio.run(measure_documents(url, account, names, args.rounds, args.requests))


if __name__ == "__main__":
    main()
