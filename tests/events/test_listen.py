"""PostgreSQL's LISTEN feeder: committed events of any worker reach this one's hub, once,
also across a lost connection; and two server processes on one database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

import httpx
import pytest

from app.events.bus import Hub
from app.events.listen import Listener
from tests.factories import free_port, gid, make_staff, make_tenant
from tests.graphql.ws import WsClient

UPDATE = """mutation($input: StaffUpdateInput!) { staffUpdate(input: $input) { userErrors { code } } }"""
STAFF_CHANGED = "subscription { staffChanged { kind staffId changedFields staff { title } } }"


@pytest.fixture(autouse=True)
def postgres_only(backend):
    if backend != "postgresql":
        pytest.skip("SQLite has one process: its events are published in memory")


async def _ids(queue: asyncio.Queue, count: int, seconds: float = 10) -> list[int]:
    found = []
    async with asyncio.timeout(seconds):
        while len(found) < count:
            found.append(await queue.get())
    return found


async def _update(api, owner, staff_id: int, title: str) -> None:
    data = await api.data(UPDATE, {"input": {"id": gid("Staff", staff_id), "title": title}},
                          as_=owner)
    assert data["staffUpdate"]["userErrors"] == []


@contextlib.asynccontextmanager
async def listening(settings, **options):
    hub = Hub()
    listener = Listener(settings.database_url, hub, **options)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        yield listener, hub.listen()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_committed_events_are_published_once(api, services, settings):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant)
    async with listening(settings) as (_, queue):
        await _update(api, tenant.owner, staff.id, "One")
        await _update(api, tenant.owner, staff.id, "Two")
        first, second = await _ids(queue, 2)
        assert second > first
        await asyncio.sleep(0.3)
        assert queue.empty()


async def test_events_committed_while_the_connection_was_lost_are_caught_up(
    api, services, settings
):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant)
    async with listening(settings, reconnect_seconds=0.5) as (listener, queue):
        await _update(api, tenant.owner, staff.id, "Before")
        [before] = await _ids(queue, 1)
        await listener.drop_connection()
        await asyncio.sleep(0.1)
        await _update(api, tenant.owner, staff.id, "While away")  # nobody listens
        await _update(api, tenant.owner, staff.id, "Still away")
        missed = await _ids(queue, 2)
        assert listener.connections == 2
        assert missed[0] > before and missed[1] > missed[0]
        await _update(api, tenant.owner, staff.id, "Back")
        [after] = await _ids(queue, 1)
        assert after > missed[1]
        await asyncio.sleep(0.3)
        assert queue.empty()  # each once: the catch-up skips what it had published


@contextlib.asynccontextmanager
async def server_process(database_url: str):
    port = free_port()
    env = {
        **os.environ,
        "ROSTER_DATABASE_URL": database_url,
        "ROSTER_ENV": "development",
        "ROSTER_EMAIL_BACKEND": "memory",
        "ROSTER_ACCESS_LOG": "false",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "serve", "--port", str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                assert process.returncode is None, "the server exited"
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the server did not start")
            yield base, client
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_a_change_through_worker_a_reaches_a_subscriber_on_worker_b(services, settings):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant)
    async with server_process(settings.database_url) as (_, worker_a), \
            server_process(settings.database_url) as (base_b, _):
        async with WsClient.open(base_b) as ws:
            assert (await ws.init(tenant.owner))["type"] == "connection_ack"
            await ws.subscribe(STAFF_CHANGED)
            await asyncio.sleep(1.0)
            response = await worker_a.post(
                "/graphql",
                json={"query": UPDATE,
                      "variables": {"input": {"id": gid("Staff", staff.id), "title": "Via A"}}},
                headers={"Authorization": f"Bearer {tenant.owner.token}"},
            )
            assert response.json()["data"]["staffUpdate"]["userErrors"] == []
            change = (await ws.next())["data"]["staffChanged"]
            assert change == {"kind": "UPDATED", "staffId": gid("Staff", staff.id),
                              "changedFields": ["title"], "staff": {"title": "Via A"}}
            assert await ws.drain(0.5) == []  # once
