"""Interactive requests first (app.foreground): an export reads its next batch once no
other request is in flight, or after a bounded wait."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.foreground import Foreground
from tests.factories import insert_staff_rows, make_tenant
from tests.staff.test_export import headers, http_scope, stream_get


async def test_a_job_goes_on_at_once_when_no_request_is_in_flight():
    foreground = Foreground(longest_wait=30)
    started = time.monotonic()
    await foreground.quiet()
    assert time.monotonic() - started < 1


async def test_a_job_waits_for_the_requests_in_flight_to_end():
    foreground = Foreground(longest_wait=30)
    first, second = foreground.enter(), foreground.enter()
    job = asyncio.ensure_future(foreground.quiet())
    await asyncio.sleep(0.05)
    first.leave()
    first.leave()  # a presence leaves once: the second request still counts
    await asyncio.sleep(0.05)
    assert not job.done()
    second.leave()
    await asyncio.wait_for(job, 1)
    assert foreground.in_flight == 0


async def test_a_job_waits_no_longer_than_its_bound_under_constant_load():
    foreground = Foreground(longest_wait=0.05)
    foreground.enter()
    started = time.monotonic()
    for _ in range(3):
        await foreground.quiet()
    assert 0.15 <= time.monotonic() - started < 2


async def test_a_waiting_job_that_is_cancelled_leaves_no_waiter():
    foreground = Foreground(longest_wait=30)
    presence = foreground.enter()
    job = asyncio.ensure_future(foreground.quiet())
    await asyncio.sleep(0.01)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    presence.leave()
    assert foreground._waiting == []


async def _held_request(app, release: asyncio.Event) -> int:
    """A POST /graphql whose body arrives only once ``release`` is set: a request in
    flight for as long as the test wants. Returns its status."""
    scope = http_scope("POST", "/graphql", {"content-type": "application/json"})
    body = b'{"query": "{ __typename }"}'
    status = 0
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            await release.wait()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def test_an_export_reads_its_next_batch_after_the_requests_in_flight(app, services):
    foreground = services.offload.foreground
    foreground.longest_wait = 30  # the request in flight alone decides here
    tenant = await make_tenant(services)
    await insert_staff_rows(
        services, tenant, [{"first_name": f"F{i}", "last_name": f"L{i}"} for i in range(250)]
    )
    release = asyncio.Event()
    held = asyncio.ensure_future(_held_request(app, release))
    await asyncio.sleep(0.05)
    assert foreground.in_flight == 1

    lines: list[int] = []
    export = asyncio.ensure_future(
        stream_get(
            app, "/export/staff.csv", headers(tenant.owner), lambda b: lines.append(b.count(b"\n"))
        )
    )
    await asyncio.sleep(0.5)
    # the header and the first batch went out; the export does not count as a request in
    # flight, and waits for the one that is
    assert not export.done()
    assert foreground.in_flight == 1
    streamed_while_held = sum(lines)
    assert streamed_while_held <= 1 + 100

    release.set()
    assert await asyncio.wait_for(held, 10) == 200
    status, _ = await asyncio.wait_for(export, 30)
    assert status == 200
    assert sum(lines) == 1 + 250 + 1  # header, everyone, the owner's own record
    assert foreground.in_flight == 0


async def test_requests_leave_the_count_whatever_their_answer(app, services, client):
    tenant = await make_tenant(services)
    foreground = services.offload.foreground
    answers = [
        await client.get("/export/staff.csv"),  # 401
        await client.get("/export/staff.csv", headers=headers(tenant.owner)),
        await client.post("/graphql", json={"query": "{ viewer { id } }"}),
        await client.post(
            "/graphql", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        await client.get("/no/such/page"),
    ]
    assert [a.status_code for a in answers] == [401, 200, 200, 400, 404]
    assert foreground.in_flight == 0
