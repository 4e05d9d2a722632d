"""Settings sent together in one accountUpdate are all kept: whether guests take seats is
checked against the seats (under the account's lock, taken once) without losing the
settings beside it, and turning everyoneCanInvite off beside it both withdraws what
members sent under it and stays off."""

from __future__ import annotations

from app.access import Role
from tests.factories import make_member, make_tenant

UPDATE = """mutation($input: AccountUpdateInput!) {
  accountUpdate(input: $input) {
    account { name settings { everyoneCanInvite } seats { guestsTakeSeats } } userErrors { code } } }"""
INVITE = """mutation($email: String!) {
  invitationCreate(input: {email: $email, role: VIEWER}) { userErrors { code } } }"""
INVITATIONS = "{ invitations { edges { node { status } } } }"


async def test_settings_sent_beside_guests_take_seats_are_kept(api, services):
    tenant = await make_tenant(services, seats=10)
    await api.data(UPDATE, {"input": {"everyoneCanInvite": True}}, as_=tenant.owner)
    editor = await make_member(services, tenant, Role.EDITOR)
    sent = await api.data(INVITE, {"email": "friend@example.com"}, as_=editor)
    assert sent["invitationCreate"]["userErrors"] == []

    changed = {"name": "Renamed", "everyoneCanInvite": False, "guestsTakeSeats": True}
    body = await api.data(UPDATE, {"input": changed}, as_=tenant.owner)
    assert body["accountUpdate"]["userErrors"] == []
    expected = {
        "name": "Renamed",
        "settings": {"everyoneCanInvite": False},
        "seats": {"guestsTakeSeats": True},
    }
    assert body["accountUpdate"]["account"] == expected
    shown = await api.data(
        "{ account { name settings { everyoneCanInvite } seats { guestsTakeSeats } } }",
        as_=tenant.owner,
    )
    assert shown["account"] == expected
    edges = (await api.data(INVITATIONS, as_=tenant.owner))["invitations"]["edges"]
    assert [e["node"]["status"] for e in edges] == ["REVOKED"]
