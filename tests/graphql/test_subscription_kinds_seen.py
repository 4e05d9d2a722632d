"""A staff event other than an update tells something of its record (``member.joined``,
``staff.disabled``: its account status; ``staff.role_changed``: its role), and reaches a
subscriber only if they see that field of the record, as a query would show it
(``app.events.visibility.STAFF_EVENT_FIELDS``). A guest sees a project colleague's name
card, never their account status: over the websocket they are told neither that the
colleague was disabled nor enabled, while a viewer of the directory is."""

from __future__ import annotations

import asyncio

from app.access import Role
from tests.factories import make_member, make_tenant
from tests.graphql.test_subscriptions import serving
from tests.graphql.ws import WsClient

PROJECT = """mutation($ids: [ID!]) {
  projectCreate(input: {name: "Job", memberIds: $ids}) { userErrors { code } } }"""
DISABLE = "mutation($id: ID!) { staffDisable(input: {staffId: $id}) { userErrors { code } } }"
ENABLE = "mutation($id: ID!) { staffEnable(input: {staffId: $id}) { userErrors { code } } }"
TITLE = """mutation($id: ID!) {
  staffUpdate(input: {id: $id, title: "Lead"}) { userErrors { code } } }"""
STATUS = "query($id: ID!) { node(id: $id) { ... on Staff { accountStatus } } }"
CHANGES = "subscription { staffChanged { kind staffId changedFields } }"


async def told(app, api, member, owner, peer) -> list[tuple[str, list[str]]]:
    """What ``member`` is told over a websocket while the owner disables the peer, enables
    them and gives them a title."""
    async with serving(app) as base, WsClient.open(base) as ws:
        assert (await ws.init(member))["type"] == "connection_ack"
        await ws.subscribe(CHANGES)
        await asyncio.sleep(0.3)
        for mutation in (DISABLE, ENABLE, TITLE):
            data = await api.data(mutation, {"id": peer.staff_id}, as_=owner)
            assert next(iter(data.values()))["userErrors"] == []
        messages = await ws.drain(1.5)
    changes = [m["payload"]["data"]["staffChanged"] for m in messages if m["type"] == "next"]
    assert all(c["staffId"] == peer.staff_id for c in changes)
    return [(c["kind"], c["changedFields"]) for c in changes]


async def test_a_guest_is_told_only_what_it_sees_of_a_project_colleague(api, services, app):
    tenant = await make_tenant(services)
    guest = await make_member(services, tenant, Role.GUEST, kind="CUSTOMER")
    peer = await make_member(services, tenant, Role.VIEWER)
    data = await api.data(PROJECT, {"ids": [guest.staff_id, peer.staff_id]}, as_=tenant.owner)
    assert data["projectCreate"]["userErrors"] == []
    # over HTTP the guest sees the colleague, not their account status
    seen = (await api.data(STATUS, {"id": peer.staff_id}, as_=guest))["node"]
    assert seen == {"accountStatus": None}

    assert await told(app, api, guest, tenant.owner, peer) == [("UPDATED", ["title"])]


async def test_a_viewer_is_told_of_a_colleagues_account_status(api, services, app):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    peer = await make_member(services, tenant, Role.VIEWER)
    assert await told(app, api, viewer, tenant.owner, peer) == [
        ("DISABLED", []),
        ("ENABLED", []),
        ("UPDATED", ["title"]),
    ]
