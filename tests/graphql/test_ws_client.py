"""The graphql-ws reference client (npm, run by node) against a live Roster server: it
authenticates in connection_init, receives a change, and sees the socket closed (4403)
when its member is disabled. Without node the test is skipped; without the installed
packages (``npm ci --prefix tests/ws_client``) it fails."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from pathlib import Path

import pytest

from app.access import Role
from tests.factories import gid, make_member, make_staff, make_tenant
from tests.graphql.test_subscriptions import STAFF_DISABLE, STAFF_UPDATE, serving

CLIENT = Path(__file__).resolve().parents[1] / "ws_client"
QUERY = "subscription { staffChanged { kind staffId changedFields staff { title email } } }"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@contextlib.asynccontextmanager
async def node_client(base: str, member, count: int):
    assert (CLIENT / "node_modules" / "graphql-ws").is_dir(), (
        "run: npm ci --prefix tests/ws_client"
    )
    params = {"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm}
    process = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node", str(CLIENT / "subscribe.mjs"),
        base.replace("http://", "ws://") + "/graphql", json.dumps(params), QUERY, str(count),
        stdout=asyncio.subprocess.PIPE,
    )

    async def line() -> dict:
        assert process.stdout is not None
        return json.loads(await asyncio.wait_for(process.stdout.readline(), 20))

    try:
        assert await line() == {"ready": True}
        yield line
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_the_reference_client_receives_a_change(api, services, app):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    target = await make_staff(services, tenant, email="hidden@example.com")
    async with serving(app) as base, node_client(base, viewer, 1) as line:
        await asyncio.sleep(0.3)
        await api.data(STAFF_UPDATE, {"input": {"id": gid("Staff", target.id), "title": "Node"}},
                       as_=tenant.owner)
        assert await line() == {"next": {"data": {"staffChanged": {
            "kind": "UPDATED", "staffId": gid("Staff", target.id), "changedFields": ["title"],
            "staff": {"title": "Node", "email": None}}}}}
        assert await line() == {"closed": 1000}


async def test_the_reference_client_sees_lost_access_as_4403(api, services, app):
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    async with serving(app) as base, node_client(base, editor, 5) as line:
        await asyncio.sleep(0.3)
        await api.data(STAFF_DISABLE, {"id": editor.staff_id}, as_=tenant.owner)
        found = [await line()]
        while "closed" not in found[-1]:
            found.append(await line())
        assert found[-1] == {"closed": 4403}
