"""The staff page in one process: the compiled plan, graphql-core and the floor, side by side.

    python -m bench.hot_paths [--db sqlite|postgresql] [--size 500] [--rounds 5] [--requests 20]

Seeds one account (SQLite in a temporary directory, or the ``bench`` PostgreSQL database),
builds two apps on it, one with ``hot_paths=False``, and the floor (``bench.floor``), checks
they answer the page query identically, then times interleaved batches of requests through
an in-process ASGI client and prints the best CPU milliseconds per request of each, and the
ratios. The client's own work is included in all three, so ratios understate the
differences in the servers; the figures move far less with the machine's load than wrk's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

import httpx

from bench.queries import PAGE_QUERY
from bench.run import POSTGRES_URL
from bench.seed import seed


async def measure(url: str, slug: str, token: str, rounds: int, requests: int) -> None:
    from app.main import create_app
    from app.services import Services
    from app.settings import Settings
    from bench import floor

    async with contextlib.AsyncExitStack() as stack:
        apps = {}
        for name, hot in (("compiled plan", True), ("graphql-core", False)):
            settings = Settings(database_url=url, hot_paths=hot, email_relay_enabled=False)
            made = Services.from_settings(settings)
            stack.push_async_callback(made.close)
            apps[name] = create_app(settings, services=made)
        apps["floor"] = floor.create_app(url)
        await stack.enter_async_context(apps["floor"].router.lifespan_context(apps["floor"]))
        clients = {}
        for name, app in apps.items():
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
            )
        headers = {"Authorization": f"Bearer {token}", "X-Auth-Realm": slug}
        for first in (50, 100):
            body = {"query": PAGE_QUERY, "variables": {"first": first}}
            answers = {
                name: (await client.post("/graphql", json=body, headers=headers)).json()
                for name, client in clients.items()
            }
            assert "errors" not in answers["floor"], answers["floor"]
            assert all(a == answers["floor"] for a in answers.values()), "answers differ"
            best = dict.fromkeys(clients, float("inf"))
            for _ in range(rounds):
                for name, client in clients.items():
                    started = time.process_time()
                    for _ in range(requests):
                        await client.post("/graphql", json=body, headers=headers)
                    spent = (time.process_time() - started) / requests * 1000
                    best[name] = min(best[name], spent)
            floor_ms = best["floor"]
            print(
                f"first={first:3}  "
                + "  ".join(
                    f"{name} {ms:6.2f} ms/req ({ms / floor_ms:.2f}x floor)"
                    for name, ms in best.items()
                )
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="roster-hot-") as work:
        url = (
            f"sqlite+aiosqlite:///{Path(work) / 'bench.db'}"
            if args.db == "sqlite"
            else POSTGRES_URL
        )
        account = seed(url, [args.size])[0]
        print(f"{args.db}, {args.size} staff")
        asyncio.run(measure(url, account.slug, account.admin_token, args.rounds, args.requests))


if __name__ == "__main__":
    main()
