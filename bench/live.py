"""Shared by the latency benchmarks (``bench.export_interference``, ``bench.write_tails``):
a seeded database, one live Roster server on loopback, and timed GraphQL requests."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.run import POSTGRES_URL, Server, uvicorn
from bench.seed import BenchAccount, seed


def database_url(kind: str, work: Path, postgres_url: str = POSTGRES_URL) -> str:
    return f"sqlite+aiosqlite:///{work / 'bench.db'}" if kind == "sqlite" else postgres_url


@contextlib.contextmanager
def roster(url: str, work: Path) -> Iterator[Server]:
    """One Roster process (uvicorn, a single worker) on ``url``, stopped on exit."""
    env = {
        "ROSTER_DATABASE_URL": url,
        "ROSTER_EMAIL_RELAY_ENABLED": "false",
        "ROSTER_EMAIL_BACKEND": "memory",
    }
    server = uvicorn("roster", "app.main:create_app", env, work)
    try:
        yield server
    finally:
        server.stop()


def seeded(url: str, size: int, *, secrets: bool = False) -> BenchAccount:
    (account,) = seed(url, [size], secrets=secrets)
    return account


@dataclass
class Timings:
    seconds: list[float]
    errors: int = 0

    def percentile(self, p: float) -> float:
        """Milliseconds at percentile ``p`` (nearest rank), NaN when nothing was timed."""
        if not self.seconds:
            return float("nan")
        ordered = sorted(self.seconds)
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return 1000 * ordered[rank]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)


def headers(account: BenchAccount) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.admin_token}", "X-Auth-Realm": account.slug}


async def timed_post(client: httpx.AsyncClient, body: dict, timings: Timings) -> dict | None:
    """POST /graphql; its wall time is recorded, and an HTTP error, a GraphQL error or a
    user error counts as an error."""
    started = time.perf_counter()
    try:
        response = await client.post("/graphql", json=body)
        out = response.json()
    except (httpx.HTTPError, ValueError):
        timings.seconds.append(time.perf_counter() - started)
        timings.errors += 1
        return None
    timings.seconds.append(time.perf_counter() - started)
    data = out.get("data") or {}
    failed = response.status_code != 200 or out.get("errors")
    failed = failed or any(
        isinstance(v, dict) and v.get("userErrors") for v in data.values()
    )
    if failed:
        timings.errors += 1
        return None
    return out
