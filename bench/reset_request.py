"""How long passwordResetRequest takes to answer, for a known and an unknown email.

    python -m bench.reset_request [--requests 300] [--database-url URL]

Drives the app in-process (no network) and times each request from its start to the
last byte of its answer, which is what a client can measure; the work the server does
after answering (looking up the email, making the link) is timed separately. Known and
unknown emails alternate, so drift affects both alike. Default: a fresh SQLite file.
Never run by tests.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from app.db.migrate import upgrade_to_head
from app.identity import service as identity
from app.main import create_app
from app.services import Services
from app.settings import Settings

QUERY = """mutation($e: String!) {
  passwordResetRequest(input: {email: $e}) { ok userErrors { code } }
}"""


class Timed:
    """Wraps the app: records when the answer's last byte left, and when the app ended."""

    def __init__(self, app):
        self.app = app
        self.answered = self.finished = 0.0

    async def __call__(self, scope, receive, send):
        async def watch(message):
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.answered = time.perf_counter()

        await self.app(scope, receive, watch)
        self.finished = time.perf_counter()


async def run(database_url: str, requests: int) -> None:
    settings = Settings(
        database_url=database_url,
        env="development",
        email_backend="memory",
        public_url="http://roster.test",
        rate_limits={"password_reset_address": 10**9},
        password_reset_cooldown_seconds=0,
    )
    services = Services.from_settings(settings)
    async with services.db.session(write=True) as session:
        await identity.create_user(
            session, services.passwords, email="known@example.com", password=None, verified=True
        )
        await session.commit()
    timed = Timed(create_app(settings, services=services))
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    after: dict[str, list[float]] = {"known": [], "unknown": []}
    transport = httpx.ASGITransport(app=timed)
    async with httpx.AsyncClient(transport=transport, base_url="http://roster.test") as client:
        for i in range(requests * 2 + 20):
            kind = ("known", "unknown")[i % 2]
            email = "known@example.com" if kind == "known" else f"nobody{i}@example.com"
            started = time.perf_counter()
            response = await client.post(
                "/graphql", json={"query": QUERY, "variables": {"e": email}}
            )
            assert response.status_code == 200 and "errors" not in response.json(), response.text
            if i >= 20:  # warm-up
                times[kind].append((timed.answered - started) * 1000)
                after[kind].append((timed.finished - timed.answered) * 1000)
            services.sender.sent.clear()
    await services.close()
    print(f"{'':10}{'answer median':>16}{'p90':>10}{'after answering':>18}")
    for kind in ("known", "unknown"):
        ms = sorted(times[kind])
        print(
            f"{kind:10}{statistics.median(ms):13.2f} ms{ms[int(len(ms) * 0.9)]:7.2f} ms"
            f"{statistics.median(after[kind]):15.2f} ms"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="per kind of email")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="roster-reset-") as work:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(work) / 'roster.db'}"
        upgrade_to_head(url)
        asyncio.run(run(url, args.requests))


if __name__ == "__main__":
    main()
