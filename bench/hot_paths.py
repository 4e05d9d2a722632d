"""The staff page in one process, the compiled plan against graphql-core, side by side.

    python -m bench.hot_paths [--db sqlite|postgresql] [--size 500] [--rounds 5] [--requests 20]

Seeds one account (SQLite in a temporary directory, or the ``bench`` PostgreSQL database),
builds two apps on it, one with ``hot_paths=False``, checks they answer the page query
identically, then times interleaved batches of requests through an in-process ASGI client
and prints the best CPU milliseconds per request of each, and their ratio. The client's own
work is included in both, so the ratio understates the difference in the server.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from bench.queries import PAGE_QUERY
from bench.run import POSTGRES_URL
from bench.seed import seed


async def measure(url: str, slug: str, token: str, rounds: int, requests: int) -> None:
    from app.main import Services, create_app
    from app.settings import Settings

    clients, services = {}, []
    for hot in (True, False):
        settings = Settings(database_url=url, hot_paths=hot, email_relay_enabled=False)
        made = Services.from_settings(settings)
        services.append(made)
        app = create_app(settings, services=made)
        clients[hot] = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        )
    headers = {"Authorization": f"Bearer {token}", "X-Auth-Realm": slug}
    try:
        for first in (50, 100):
            body = {"query": PAGE_QUERY, "variables": {"first": first}}
            answers = [
                (await clients[hot].post("/graphql", json=body, headers=headers)).json()
                for hot in (True, False)
            ]
            assert answers[0] == answers[1] and "errors" not in answers[0], "answers differ"
            best = {True: float("inf"), False: float("inf")}
            for _ in range(rounds):
                for hot in (True, False):
                    started = time.process_time()
                    for _ in range(requests):
                        await clients[hot].post("/graphql", json=body, headers=headers)
                    spent = (time.process_time() - started) / requests * 1000
                    best[hot] = min(best[hot], spent)
            print(
                f"first={first:3}  compiled plan {best[True]:6.2f} ms/req  "
                f"graphql-core {best[False]:6.2f} ms/req  ratio {best[False] / best[True]:.2f}"
            )
    finally:
        for client in clients.values():
            await client.aclose()
        for made in services:
            await made.close()


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
