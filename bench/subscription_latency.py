"""Benchmark: commit-to-subscriber latency of ``staffChanged``, without and with staff-list
load, SQLite against PostgreSQL.

    python -m bench.subscription_latency [--subscribers 10] [--updates 100] [--load 4]
                                         [--size 500] [--db sqlite,postgresql]
                                         [--postgres-url URL]

Per database: seeds one account of ``--size`` staff, starts one Roster process on loopback
and opens ``--subscribers`` websockets (graphql-transport-ws), each subscribed to
``staffChanged`` as the account's administrator. A writer then sends ``--updates``
``staffUpdate`` mutations one after the other (20 ms apart), first alone, then while
``--load`` clients read the staff page (50 rows) back to back. For every event each
subscriber receives, it records:

- commit-to-subscriber: from the event's ``occurredAt`` (written in the transaction, just
  before its commit) to its arrival at the subscriber (the same machine's clock);
- request-to-subscriber: from the moment the writer sent the mutation.

Prints p50/p99 of both per database and run, the events lost (expected 0), and the staff
page's throughput under the load. Client and server share the machine: state its load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from bench.live import Timings, database_url, headers, roster, seeded, timed_post
from bench.run import POSTGRES_URL, page_body

UPDATE = """mutation Update($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { userErrors { code message } }
}"""
SUBSCRIPTION = "subscription { staffChanged { eventId kind occurredAt staffId staff { title } } }"


class Subscriber:
    def __init__(self, base: str, account):
        self.url = base.replace("http://", "ws://") + "/graphql"
        self.account = account
        self.arrivals: dict[str, tuple[float, float]] = {}  # title -> (arrived, occurredAt)
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        async with connect(self.url, subprotocols=["graphql-transport-ws"]) as ws:
            auth = headers(self.account)
            await ws.send(json.dumps({"type": "connection_init", "payload": auth}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
            )
            self.ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.2)
                except TimeoutError:
                    continue
                arrived = time.time()
                message = json.loads(raw)
                if message.get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                    continue
                change = message["payload"]["data"]["staffChanged"]
                occurred = datetime.fromisoformat(change["occurredAt"]).timestamp()
                self.arrivals[change["staff"]["title"]] = (arrived, occurred)


async def staff_ids(base: str, account) -> list[str]:
    async with httpx.AsyncClient(base_url=base, headers=headers(account), timeout=60) as client:
        out = (await client.post("/graphql", json=page_body(20))).json()
    return [e["node"]["id"] for e in out["data"]["staff"]["edges"]]


async def page_load(base: str, account, clients: int, stop: asyncio.Event) -> Timings:
    timings = Timings([])
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers=headers(account), timeout=60, limits=limits
    ) as client:

        async def one() -> None:
            while not stop.is_set():
                await timed_post(client, page_body(50), timings)

        await asyncio.gather(*(one() for _ in range(clients)))
    return timings


async def run_once(base: str, account, ids: list[str], args, label: str, load: int) -> dict:
    stop = asyncio.Event()
    subscribers = [Subscriber(base, account) for _ in range(args.subscribers)]
    tasks = [asyncio.create_task(s.run(stop)) for s in subscribers]
    for s in subscribers:
        await asyncio.wait_for(s.ready.wait(), 30)
    await asyncio.sleep(0.5)  # the subscriptions are following
    load_stop = asyncio.Event()
    loader = asyncio.create_task(page_load(base, account, load, load_stop)) if load else None
    sent: dict[str, float] = {}
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base, headers=headers(account), timeout=60) as client:
        for i in range(args.updates):
            title = f"{label}-{i}"
            sent[title] = time.time()
            body = {
                "query": UPDATE,
                "variables": {"input": {"id": ids[i % len(ids)], "title": title}},
            }
            response = (await client.post("/graphql", json=body)).json()
            assert not response.get("errors"), response
            await asyncio.sleep(0.02)
    elapsed = time.monotonic() - started
    await asyncio.sleep(2)  # the last events arrive
    load_stop.set()
    pages = await loader if loader else None
    stop.set()
    await asyncio.gather(*tasks)
    commit, request = Timings([]), Timings([])
    lost = 0
    for s in subscribers:
        for title, at in sent.items():
            if title not in s.arrivals:
                lost += 1
                continue
            arrived, occurred = s.arrivals[title]
            commit.seconds.append(arrived - occurred)
            request.seconds.append(arrived - at)
    return {
        "commit": commit,
        "request": request,
        "lost": lost,
        "pages_per_s": len(pages.seconds) / elapsed if pages else None,
        "page_errors": pages.errors if pages else 0,
    }


def measure(kind: str, args, work: Path) -> dict[str, dict]:
    url = database_url(kind, work, args.postgres_url)
    print(f"\n== {kind}: seeding {args.size} staff ...", flush=True)
    account = seeded(url, args.size)
    results = {}
    with roster(url, work) as server:
        base = f"http://127.0.0.1:{server.port}"
        ids = asyncio.run(staff_ids(base, account))
        for label, load in (("idle", 0), ("loaded", args.load)):
            r = asyncio.run(run_once(base, account, ids, args, f"{kind}-{label}", load))
            results[label] = r
            pages = f" staff pages/s {r['pages_per_s']:.0f}" if r["pages_per_s"] else ""
            print(
                f"{kind:10} {label:6}: commit->subscriber p50 {r['commit'].p50:7.2f} ms "
                f"p99 {r['commit'].p99:7.2f} ms; request->subscriber p50 "
                f"{r['request'].p50:7.2f} ms p99 {r['request'].p99:7.2f} ms; "
                f"lost {r['lost']}{pages}",
                flush=True,
            )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.subscription_latency")
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--load", type=int, default=4)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="roster-bench-"))
    results: dict[str, dict[str, dict]] = {}
    try:
        for kind in args.db.split(","):
            results[kind.strip()] = measure(kind.strip(), args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nstaffChanged to {args.subscribers} subscribers, {args.updates} updates, "
        f"load {args.load} staff-page clients, load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs:\n\n"
        "| db | run | commit->sub p50 ms | p99 ms | request->sub p50 ms | p99 ms | lost |"
        " staff pages/s |\n|---|---|---|---|---|---|---|---|"
    )
    for kind, runs in results.items():
        for label, r in runs.items():
            pages = f"{r['pages_per_s']:.0f}" if r["pages_per_s"] else "-"
            print(
                f"| {kind} | {label} | {r['commit'].p50:.1f} | {r['commit'].p99:.1f} | "
                f"{r['request'].p50:.1f} | {r['request'].p99:.1f} | {r['lost']} | {pages} |"
            )


if __name__ == "__main__":
    main()
