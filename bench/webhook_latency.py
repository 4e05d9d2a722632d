"""Benchmark: how long after a change commits does its webhook arrive?

    python -m bench.webhook_latency [--db sqlite,postgresql] [--size 2000] [--changes 200]
                                    [--connections 4] [--postgres-url URL]

Per database: seeds one account of ``--size`` staff, starts one Roster process on loopback
(its background delivery loop on, loopback allowed) and a receiver in this process that
verifies every signature with the Standard Webhooks library, and sets up an endpoint for
``staff.updated``. Then it changes one record's title ``--changes`` times, one at a time,
and times each change from the mutation's answer (the commit is done by then) to the
arrival of its webhook: first alone, then while ``wrk`` requests the staff list
(``staff(first: 50)``) back to back over ``--connections`` connections. Prints p50/p99 of
both and the staff list's own p50/p99 under that load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bench.live import Timings, database_url, headers, seeded
from bench.run import POSTGRES_URL, free_port, page_body, parse_wrk, wrk_command
from bench.run import uvicorn as start_roster

CREATE = """mutation($url: String!) {
  webhookEndpointCreate(input: {url: $url, eventTypes: ["staff.updated"]}) {
    secret userErrors { message }
  }
}"""
UPDATE = """mutation($id: ID!, $title: String!) {
  staffUpdate(input: {id: $id, title: $title}) { staff { id } userErrors { message } }
}"""
FIRST = "{ staff(first: 1) { edges { node { id } } } }"


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.secret = ""
        self.arrivals: asyncio.Queue[float] = asyncio.Queue()
        self.unverified = 0

    async def handle(self, request: Request):
        arrived = time.perf_counter()
        body = await request.body()
        try:
            Webhook(self.secret).verify(body, dict(request.headers))
        except Exception:  # noqa: BLE001 (counted and reported)
            self.unverified += 1
        self.arrivals.put_nowait(arrived)
        return PlainTextResponse("ok")


async def changes(
    client: httpx.AsyncClient, receiver: Receiver, staff_id: str, n: int, label: str
) -> Timings:
    timings = Timings([])
    for i in range(n):
        response = await client.post(
            "/graphql",
            json={"query": UPDATE, "variables": {"id": staff_id, "title": f"{label} {i}"}},
        )
        answered = time.perf_counter()
        assert not response.json()["data"]["staffUpdate"]["userErrors"], response.text
        try:
            arrived = await asyncio.wait_for(receiver.arrivals.get(), timeout=30)
        except TimeoutError:
            timings.errors += 1
            continue
        timings.seconds.append(max(0.0, arrived - answered))
    return timings


async def measure_async(kind: str, args, work: Path, url: str, account) -> dict:
    receiver = Receiver()
    app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=receiver.port,
            lifespan="off",
            log_level="error",
            access_log=False,
        )
    )
    serving = asyncio.create_task(server.serve())
    env = {
        "ROSTER_DATABASE_URL": url,
        "ROSTER_EMAIL_RELAY_ENABLED": "false",
        "ROSTER_EMAIL_BACKEND": "memory",
        "ROSTER_WEBHOOKS_ALLOW_PRIVATE": "true",
    }
    roster = start_roster("roster", "app.main:create_app", env, work)
    try:
        base = f"http://127.0.0.1:{roster.port}"
        async with httpx.AsyncClient(base_url=base, headers=headers(account), timeout=60) as c:
            made = (
                await c.post(
                    "/graphql",
                    json={
                        "query": CREATE,
                        "variables": {"url": f"http://127.0.0.1:{receiver.port}/hook"},
                    },
                )
            ).json()["data"]["webhookEndpointCreate"]
            assert not made["userErrors"], made
            receiver.secret = made["secret"]
            staff_id = (await c.post("/graphql", json={"query": FIRST})).json()["data"]["staff"][
                "edges"
            ][0]["node"]["id"]
            await changes(c, receiver, staff_id, 10, "warm")
            alone = await changes(c, receiver, staff_id, args.changes, "alone")

            argv, wrk_env = wrk_command(
                roster.url,
                page_body(50),
                account.admin_token,
                account.slug,
                args.duration,
                args.connections,
                work,
            )
            load = await asyncio.create_subprocess_exec(
                *argv, env=wrk_env, stdout=asyncio.subprocess.PIPE
            )
            await asyncio.sleep(1)
            loaded = await changes(c, receiver, staff_id, args.changes, "loaded")
            still_loading = load.returncode is None
            out, _ = await asyncio.wait_for(load.communicate(), timeout=args.duration + 60)
            requests, seconds, page_p50, page_p99, page_errors = parse_wrk(out.decode())
    finally:
        roster.stop()
        server.should_exit = True
        await serving
    row = {"db": kind, "alone": alone, "loaded": loaded, "unverified": receiver.unverified}
    print(
        f"{kind:10} commit-to-webhook alone p50 {alone.p50:7.2f} ms p99 {alone.p99:7.2f} ms "
        f"({len(alone.seconds)}) | under staff-list load p50 {loaded.p50:7.2f} ms "
        f"p99 {loaded.p99:7.2f} ms ({len(loaded.seconds)}, load "
        f"{'held throughout' if still_loading else 'ENDED EARLY: raise --duration'}) | "
        f"staff list p50 {page_p50:.1f} ms p99 {page_p99:.1f} ms "
        f"{requests / seconds:.0f} req/s ({page_errors} errors) | "
        f"lost {alone.errors + loaded.errors}, unverified {receiver.unverified}",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--duration", type=float, default=60, help="seconds of wrk load")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}", flush=True)
    for kind in args.db.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            url = database_url(kind, Path(tmp), args.postgres_url)
            print(f"\n== {kind}: seeding {args.size} staff ...", flush=True)
            account = seeded(url, args.size)
            asyncio.run(measure_async(kind, args, Path(tmp), url, account))


if __name__ == "__main__":
    main()
