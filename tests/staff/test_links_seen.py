"""Whom a record is shared with, and a member's permits, hang off the record: who is shown
them sees that record's profile first (``events.visibility.sees_link``, the rule that also
decides who is told they changed), then holds the permit they need. A key narrowed to
``admin`` or ``staff:write`` alone reads the directory as a guest would: a project peer's
name card, not their permits or shares."""

from __future__ import annotations

import pytest

from app.access import Role
from app.access.scopes import Scope
from tests.factories import make_api_token, make_member, make_tenant

LINKS = """query($id: ID!) {
  node(id: $id) { ... on Staff { fullName permits sharedWith { id } } } }"""
PROJECT = """mutation($ids: [ID!]) {
  projectCreate(input: {name: "Job", memberIds: $ids}) { userErrors { code } } }"""


@pytest.mark.parametrize(
    "scopes", [[Scope.ADMIN], [Scope.STAFF_WRITE], [Scope.ADMIN, Scope.STAFF_WRITE]]
)
async def test_a_key_that_reads_as_a_guest_sees_no_peers_links(api, services, scopes):
    tenant = await make_tenant(services)
    peer = await make_member(services, tenant, Role.EDITOR)
    made = await api.data(PROJECT, {"ids": [peer.staff_id]}, as_=tenant.owner)
    assert made["projectCreate"]["userErrors"] == []
    key = await make_api_token(services, tenant, tenant.owner, scopes=scopes)

    seen = (await api.data(LINKS, {"id": peer.staff_id}, token=key))["node"]
    assert seen == {"fullName": seen["fullName"], "permits": None, "sharedWith": None}
    assert seen["fullName"]  # the peer's name card is theirs to read
    own = (await api.data(LINKS, {"id": tenant.owner.staff_id}, token=key))["node"]
    assert own["permits"] is not None  # a member's own permits
    assert (own["sharedWith"] is not None) == (Scope.STAFF_WRITE in scopes)


async def test_whoever_reads_the_directory_with_the_permits_sees_them(api, services):
    tenant = await make_tenant(services)
    peer = await make_member(services, tenant, Role.EDITOR)
    key = await make_api_token(
        services, tenant, tenant.owner, scopes=[Scope.ADMIN, Scope.STAFF_READ, Scope.STAFF_WRITE]
    )
    for who in ({"as_": tenant.owner}, {"token": key}):
        seen = (await api.data(LINKS, {"id": peer.staff_id}, **who))["node"]
        assert "EDIT_STAFF" in seen["permits"] and seen["sharedWith"] == []
    viewer = await make_member(services, tenant, Role.VIEWER)
    seen = (await api.data(LINKS, {"id": peer.staff_id}, as_=viewer))["node"]
    assert seen["permits"] is None and seen["sharedWith"] is None
