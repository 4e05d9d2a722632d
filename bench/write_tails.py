"""Benchmark: write latency under concurrent writers, SQLite against PostgreSQL.

    python -m bench.write_tails [--clients 16,4] [--duration 10] [--size 500]
                                [--db sqlite,postgresql] [--postgres-url URL]

Per database: seeds one account of ``--size`` staff, starts one Roster process on loopback,
and for each number of clients runs that many clients, each sending ``staffUpdate``
(a new title for one of the first 100 staff) back to back for ``--duration`` seconds.
Prints p50/p99 and errors (HTTP, GraphQL or user errors) per database and client count,
and SQLite's p99 over PostgreSQL's. See README.md, "Benchmarks".
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
from pathlib import Path

import httpx

from bench.live import Timings, database_url, headers, roster, seeded, timed_post
from bench.run import POSTGRES_URL, page_body

UPDATE = """mutation Update($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { staff { id title } userErrors { code message } }
}"""


async def writers(base: str, account, ids: list[str], clients: int, seconds: float) -> Timings:
    timings = Timings([])
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(
        base_url=base, headers=headers(account), timeout=60, limits=limits
    ) as client:

        async def one(n: int) -> None:
            rng = random.Random(n)
            i = 0
            while time.monotonic() < deadline:
                i += 1
                body = {
                    "query": UPDATE,
                    "variables": {"input": {"id": rng.choice(ids), "title": f"T{n}-{i}"}},
                    "operationName": "Update",
                }
                await timed_post(client, body, timings)

        await asyncio.gather(*(one(n) for n in range(clients)))
    return timings


async def staff_ids(base: str, account) -> list[str]:
    async with httpx.AsyncClient(base_url=base, headers=headers(account), timeout=60) as client:
        out = (await client.post("/graphql", json=page_body(100))).json()
    return [e["node"]["id"] for e in out["data"]["staff"]["edges"]]


def measure(kind: str, args, work: Path) -> dict[int, Timings]:
    url = database_url(kind, work, args.postgres_url)
    print(f"\n== {kind}: seeding {args.size} staff ...", flush=True)
    account = seeded(url, args.size)
    results: dict[int, Timings] = {}
    with roster(url, work) as server:
        base = f"http://127.0.0.1:{server.port}"
        ids = asyncio.run(staff_ids(base, account))
        asyncio.run(writers(base, account, ids, 2, 1))  # warm up
        for clients in args.clients:
            t = asyncio.run(writers(base, account, ids, clients, args.duration))
            results[clients] = t
            print(
                f"{kind:10} {clients:3} clients: {len(t.seconds) / args.duration:7.1f} writes/s "
                f"p50 {t.p50:8.2f} ms p99 {t.p99:8.2f} ms errors {t.errors}",
                flush=True,
            )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.write_tails", description=__doc__)
    parser.add_argument("--clients", default="16,4")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    args.clients = [int(c) for c in args.clients.split(",")]
    work = Path(tempfile.mkdtemp(prefix="roster-bench-"))
    results: dict[str, dict[int, Timings]] = {}
    try:
        for kind in args.db.split(","):
            results[kind.strip()] = measure(kind.strip(), args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nstaffUpdate, {args.duration:g} s per run:\n\n"
        "| db | clients | writes/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|"
    )
    for kind, by_clients in results.items():
        for clients, t in by_clients.items():
            print(
                f"| {kind} | {clients} | {len(t.seconds) / args.duration:.0f} | {t.p50:.2f} | "
                f"{t.p99:.2f} | {t.errors} |"
            )
    if "sqlite" in results and "postgresql" in results:
        for clients in args.clients:
            ratio = results["sqlite"][clients].p99 / results["postgresql"][clients].p99
            print(f"p99 SQLite / PostgreSQL at {clients} clients: {ratio:.2f}x")


if __name__ == "__main__":
    main()
