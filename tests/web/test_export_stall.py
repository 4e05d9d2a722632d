"""A download whose client stops taking it is ended, and its database connection given
back: an export holds one (on PostgreSQL, a snapshot) while it streams, so a few clients
that stop reading would otherwise hold the pool every other request needs."""

from __future__ import annotations

import asyncio

import pytest

from app.web import exports
from tests.factories import make_staff_many, make_tenant

PATHS = ["/export/staff.csv", "/export/account.json"]


async def download(
    app, path: str, member, *, take: int | None = 2, pause: float = 0.0
) -> list[dict]:
    """GET ``path`` straight into the ASGI app as a client that takes the response's start
    and first part, then nothing more (as a socket nobody reads blocks the server's send),
    or the whole response (``take`` None), each part ``pause`` seconds after the last;
    the messages it took."""
    headers = [
        (b"authorization", f"Bearer {member.token}".encode()),
        (b"x-auth-realm", member.realm.encode()),
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1", "method": "GET", "scheme": "http", "path": path,
        "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("roster.test", 80), "state": {},
    }  # fmt: skip
    taken: list[dict] = []

    async def receive():
        await asyncio.Event().wait()  # the client never says it is gone

    async def send(message):
        if take is not None and len(taken) >= take:
            await asyncio.Event().wait()  # its buffers are full: the send never returns
        await asyncio.sleep(pause)
        taken.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    return taken


@pytest.mark.parametrize("path", PATHS)
async def test_a_download_nobody_takes_is_ended_and_its_connection_given_back(
    app, services, monkeypatch, path
):
    monkeypatch.setattr(exports, "STALL_SECONDS", 0.5)
    tenant = await make_tenant(services)
    await make_staff_many(services, tenant, [{"last_name": f"S{i}"} for i in range(300)])
    pool = services.db.engine.pool
    checked_out = getattr(pool, "checkedout", lambda: 0)  # SQLite's pool counts none
    async with app.router.lifespan_context(app):
        # a download taken whole first: what it leaves holding a connection for good (the
        # listener of the events its audit entry sends, on PostgreSQL) is held before
        whole = await download(app, path, tenant.owner, take=None)
        assert whole[-1].get("more_body") is False
        before = checked_out()
        taken = await download(app, path, tenant.owner)
        assert taken[0]["type"] == "http.response.start" and taken[0]["status"] == 200
        assert taken[-1].get("more_body") is True  # it ended before its last part
        # the app's background loops take a connection now and then: wait them out
        for _ in range(100):
            if checked_out() <= before:
                break
            await asyncio.sleep(0.05)
        assert checked_out() <= before
