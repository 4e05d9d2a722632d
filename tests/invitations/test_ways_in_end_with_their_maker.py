"""A member's invitations and join links last only while the member could still make them,
as their API keys do: a member disabled or deleted takes them all away; one given a
lower role, those that role could not make. Otherwise an administrator let go keeps a
way back in as an administrator: a join link of their own, or an invitation to a second
address of theirs."""

from __future__ import annotations

import pytest

from app.access import Role
from tests.factories import gid, make_member, make_staff, make_tenant, make_user
from tests.invitations.test_flow import ACCEPT, sent_links
from tests.invitations.test_join_links import codes, create_ok, join

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { field code } } }"""
INVITATIONS = "{ invitations { edges { node { email role status } } } }"
LINKS = "{ joinLinks { role disabled } }"
RECORD = "query($id: ID!) { node(id: $id) { ... on Staff { accountStatus } } }"
SEATS = "{ account { seats { reserved } } }"
DISABLE = "mutation($id: ID!) { staffDisable(input: {staffId: $id}) { userErrors { code } } }"
DELETE = "mutation($id: ID!) { staffDelete(input: {staffId: $id}) { userErrors { code } } }"
ROLE = """mutation($id: ID!, $role: Role!) {
  staffRoleChange(input: {staffId: $id, role: $role}) { userErrors { code } } }"""
EVERYONE_INVITES = """mutation($on: Boolean!) {
  accountUpdate(input: {everyoneCanInvite: $on}) { userErrors { code } } }"""


async def invite(api, member, email: str, role: str, **more) -> None:
    data = await api.data(INVITE, {"input": {"email": email, "role": role, **more}}, as_=member)
    assert data["invitationCreate"]["userErrors"] == [], data


async def statuses(api, owner) -> dict[str, str]:
    edges = (await api.data(INVITATIONS, as_=owner))["invitations"]["edges"]
    return {e["node"]["email"]: e["node"]["status"] for e in edges}


async def links(api, owner) -> list[tuple[str, bool]]:
    return sorted(
        (x["role"], x["disabled"]) for x in (await api.data(LINKS, as_=owner))["joinLinks"]
    )


async def accept(api, token: str) -> list[str]:
    variables = {
        "input": {
            "token": token,
            "password": "a brand new passphrase",
            "firstName": "Al",
            "lastName": "Lory",
        }
    }
    payload = (await api.data(ACCEPT, variables))["invitationAccept"]
    return [e["code"] for e in payload["userErrors"]]


async def a_leaving_administrator(api, services):
    """An account whose administrator has made an administrator's join link, invited a
    second address of theirs as an administrator, a viewer, and an existing record; the
    owner has made a link and an invitation of their own."""
    tenant = await make_tenant(services, seats=20)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    record = gid("Staff", (await make_staff(services, tenant, last_name="Ord")).id)
    admin_link, _ = await create_ok(api, admin, role="ADMINISTRATOR")
    viewer_link, _ = await create_ok(api, admin, role="VIEWER")
    owners_link, _ = await create_ok(api, tenant.owner, role="EDITOR")
    await invite(api, admin, "second.me@example.com", "ADMINISTRATOR")
    await invite(api, admin, "viewer@example.com", "VIEWER")
    await invite(api, admin, "record@example.com", "EDITOR", staffId=record)
    await invite(api, tenant.owner, "owners.pick@example.com", "EDITOR")
    tokens = dict(
        zip(
            [
                "second.me@example.com",
                "viewer@example.com",
                "record@example.com",
                "owners.pick@example.com",
            ],
            await sent_links(services),
            strict=True,
        )
    )
    return (
        tenant,
        admin,
        record,
        {"admin": admin_link, "viewer": viewer_link, "owner": owners_link},
        tokens,
    )


@pytest.mark.parametrize("how", ["disabled", "deleted"])
async def test_a_member_who_can_no_longer_act_takes_every_way_in_they_made(api, services, how):
    tenant, admin, record, link_tokens, tokens = await a_leaving_administrator(api, services)
    reserved = (await api.data(SEATS, as_=tenant.owner))["account"]["seats"]["reserved"]
    mutation = DISABLE if how == "disabled" else DELETE
    data = await api.data(mutation, {"id": admin.staff_id}, as_=tenant.owner)
    assert next(iter(data.values()))["userErrors"] == []

    assert await statuses(api, tenant.owner) == {
        "second.me@example.com": "REVOKED",
        "viewer@example.com": "REVOKED",
        "record@example.com": "REVOKED",
        "owners.pick@example.com": "PENDING",
    }
    assert await links(api, tenant.owner) == [
        ("ADMINISTRATOR", True),
        ("EDITOR", False),
        ("VIEWER", True),
    ]
    # the seats the three invitations held are free; the invited record is not invited
    seats = (await api.data(SEATS, as_=tenant.owner))["account"]["seats"]
    assert seats["reserved"] == reserved - 3
    node = (await api.data(RECORD, {"id": record}, as_=tenant.owner))["node"]
    assert node == {"accountStatus": "NOT_INVITED"}

    # the way back in is closed: the invitation to a second address and the link
    assert await accept(api, tokens["second.me@example.com"]) == ["INVITATION_REVOKED"]
    second = await make_user(services, "second.login@example.com")
    result = await join(api, link_tokens["admin"], second.email)
    assert codes(result) == [(("input", "token"), "LINK_DISABLED")]
    # the owner's own stay open
    assert await accept(api, tokens["owners.pick@example.com"]) == []
    assert (await join(api, link_tokens["owner"], "newcomer@example.com"))["userErrors"] == []


@pytest.mark.parametrize(
    ("everyone_invites", "kept"),
    [(False, set()), (True, {"viewer@example.com", "record@example.com"})],
)
async def test_a_lower_role_keeps_only_what_it_could_make(api, services, everyone_invites, kept):
    """An administrator made an editor: no join link (editors administer no account), no
    invitation as an administrator, and the editor's own invitations (viewer, editor) only
    where the account lets every member invite."""
    tenant, admin, _, link_tokens, tokens = await a_leaving_administrator(api, services)
    await api.data(EVERYONE_INVITES, {"on": everyone_invites}, as_=tenant.owner)
    data = await api.data(ROLE, {"id": admin.staff_id, "role": "EDITOR"}, as_=tenant.owner)
    assert data["staffRoleChange"]["userErrors"] == []

    made = {"second.me@example.com", "viewer@example.com", "record@example.com"}
    assert await statuses(api, tenant.owner) == {
        **{email: ("PENDING" if email in kept else "REVOKED") for email in made},
        "owners.pick@example.com": "PENDING",
    }
    assert await links(api, tenant.owner) == [
        ("ADMINISTRATOR", True),
        ("EDITOR", False),
        ("VIEWER", True),
    ]
    assert await accept(api, tokens["second.me@example.com"]) == ["INVITATION_REVOKED"]
    for email in kept:
        assert await accept(api, tokens[email]) == []


async def test_a_lower_role_that_could_still_make_it_keeps_it(api, services):
    """An editor made a viewer while every member may invite keeps the viewer invitation
    they sent (a viewer may send it) and loses the editor one."""
    tenant = await make_tenant(services, seats=10)
    await api.data(EVERYONE_INVITES, {"on": True}, as_=tenant.owner)
    editor = await make_member(services, tenant, Role.EDITOR)
    await invite(api, editor, "friend@example.com", "VIEWER")
    await invite(api, editor, "colleague@example.com", "EDITOR")
    data = await api.data(ROLE, {"id": editor.staff_id, "role": "VIEWER"}, as_=tenant.owner)
    assert data["staffRoleChange"]["userErrors"] == []
    assert await statuses(api, tenant.owner) == {
        "friend@example.com": "PENDING",
        "colleague@example.com": "REVOKED",
    }
