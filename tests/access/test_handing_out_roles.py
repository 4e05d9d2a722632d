"""Nobody hands out a role that may do more than they may: not above their own role, and
not beyond an API key's scopes. Every way a role is handed out holds to it: an
invitation, a join link, a role change, an approved join request. (A new record without
a login holds its role for nobody: only the rank rule applies to it, and inviting it is
a way in like any other.) A key is
narrowed to its scopes, so the login it would make could otherwise reach further than the
key: a key without ``personal_data`` would make an administrator who sees personal data,
a key with only ``invitations:write`` (which reads like a guest) a viewer of the whole
directory."""

from __future__ import annotations

import pytest

from app.access import Role
from app.access.scopes import Scope
from tests.factories import error_codes, make_api_token, make_member, make_tenant
from tests.invitations.test_join_links import APPROVE, REQUESTS, create_ok, join

INVITE = """mutation($email: String!, $role: Role) {
  invitationCreate(input: {email: $email, role: $role}) {
    invitation { role } userErrors { field code message } } }"""
LINK = """mutation($role: Role) {
  joinLinkCreate(input: {role: $role}) { joinLink { role } userErrors { field code message } }
}"""
ROLE_CHANGE = """mutation($id: ID!, $role: Role!) {
  staffRoleChange(input: {staffId: $id, role: $role}) {
    staff { role } userErrors { field code message } } }"""

EVERY_API_SCOPE = [
    Scope.STAFF_READ,
    Scope.STAFF_WRITE,
    Scope.INVITATIONS_WRITE,
    Scope.PERSONAL_DATA,
    Scope.ADMIN,
]
WITHOUT_PERSONAL_DATA = [s for s in EVERY_API_SCOPE if s != Scope.PERSONAL_DATA]


async def hand_out(api, services, tenant, caller: dict, way: str, role: str) -> dict:
    """The payload of handing out ``role`` the ``way`` named, as ``caller``."""
    if way == "invitation":
        body = await api(INVITE, {"email": "new.person@example.com", "role": role}, **caller)
        return body["data"]["invitationCreate"] if body.get("data") else body
    if way == "join link":
        body = await api(LINK, {"role": role}, **caller)
        return body["data"]["joinLinkCreate"] if body.get("data") else body
    if way == "role change":
        person = await make_member(services, tenant, Role.VIEWER)
        body = await api(ROLE_CHANGE, {"id": person.staff_id, "role": role}, **caller)
        return body["data"]["staffRoleChange"] if body.get("data") else body
    raise AssertionError(way)


def refusals(payload: dict) -> list[str]:
    return error_codes(payload) or [e["code"] for e in payload["userErrors"]]


WAYS = ["invitation", "join link", "role change"]

# (the owner's key's scopes, or None for the owner's own session; role; handed out?)
CASES = [
    (None, "ADMINISTRATOR", True),
    (EVERY_API_SCOPE, "ADMINISTRATOR", False),  # no key holds IMPERSONATE
    (WITHOUT_PERSONAL_DATA, "ADMINISTRATOR", False),
    (EVERY_API_SCOPE, "EDITOR", True),
    (WITHOUT_PERSONAL_DATA, "EDITOR", True),
    (WITHOUT_PERSONAL_DATA, "VIEWER", True),
]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    ("scopes", "role", "handed_out"),
    CASES,
    ids=[f"{'session' if s is None else len(s)}-{r}" for s, r, _ in CASES],
)
async def test_a_role_is_handed_out_only_by_who_may_do_all_it_may(
    api, services, way, scopes, role, handed_out
):
    tenant = await make_tenant(services)
    owner = tenant.owner
    if scopes is None:
        caller = {"as_": owner}
    else:
        key = await make_api_token(services, tenant, owner, scopes=scopes)
        caller = {"token": key, "realm": tenant.slug}
    payload = await hand_out(api, services, tenant, caller, way, role)
    if handed_out:
        assert refusals(payload) == [], payload
        return
    assert refusals(payload) == ["FORBIDDEN"], payload
    [error] = payload["userErrors"]
    assert error["field"][-1] == "role"
    assert "more than this API key's scopes allow" in error["message"], error
    # nothing was handed out: the owner still sees no such member, link or invitation
    roles = await api.data(
        "{ staff(first: 50) { nodes { role } } joinLinks { role }"
        " invitations { edges { node { role } } } }",
        as_=owner,
    )
    handed = (
        [n["role"] for n in roles["staff"]["nodes"]]
        + [x["role"] for x in roles["joinLinks"]]
        + [e["node"]["role"] for e in roles["invitations"]["edges"]]
    )
    assert role not in handed, handed


async def test_an_invitations_only_key_invites_nobody_and_says_what_it_lacks(api, services):
    tenant = await make_tenant(services)
    key = await make_api_token(services, tenant, tenant.owner, scopes=[Scope.INVITATIONS_WRITE])
    for role in ("VIEWER", "EDITOR", "ADMINISTRATOR"):
        body = await api(
            INVITE, {"email": "me@evil.test", "role": role}, token=key, realm=tenant.slug
        )
        [error] = body["data"]["invitationCreate"]["userErrors"]
        assert error["code"] == "FORBIDDEN"
        assert "see the staff directory" in error["message"], error
    # with the directory in its scopes, it invites a viewer (what it reads itself)
    reading = await make_api_token(
        services, tenant, tenant.owner, scopes=[Scope.STAFF_READ, Scope.INVITATIONS_WRITE]
    )
    body = await api(
        INVITE, {"email": "new@example.com", "role": "VIEWER"}, token=reading, realm=tenant.slug
    )
    assert body["data"]["invitationCreate"]["userErrors"] == []


async def test_approving_a_join_request_hands_out_its_role(api, services):
    """A join request for ADMINISTRATOR waits for someone who may hand that role out: an
    administrator's key (no IMPERSONATE in any key) is refused and the request stays
    pending; the owner lets it in."""
    tenant = await make_tenant(services)
    token, _ = await create_ok(api, tenant.owner, role="ADMINISTRATOR", requiresApproval=True)
    assert (await join(api, token, "asks@example.com"))["outcome"] == "PENDING_APPROVAL"
    [request] = (await api.data(REQUESTS, as_=tenant.owner))["joinRequests"]
    key = await make_api_token(services, tenant, tenant.owner, scopes=EVERY_API_SCOPE)
    refused = await api.data(APPROVE, {"id": request["id"]}, token=key, realm=tenant.slug)
    assert [e["code"] for e in refused["joinRequestApprove"]["userErrors"]] == ["FORBIDDEN"]
    [still] = (await api.data(REQUESTS, as_=tenant.owner))["joinRequests"]
    assert still["status"] == "PENDING"
    approved = await api.data(APPROVE, {"id": request["id"]}, as_=tenant.owner)
    assert approved["joinRequestApprove"]["userErrors"] == []
    assert approved["joinRequestApprove"]["staff"]["role"] == "ADMINISTRATOR"


async def test_an_editor_who_may_invite_hands_out_no_more_than_an_editor(api, services):
    """everyoneCanInvite: an editor invites viewers and editors (the rule by rank is
    unchanged for sessions), never administrators."""
    tenant = await make_tenant(services)
    await api.data(
        "mutation { accountUpdate(input: {everyoneCanInvite: true}) { userErrors { code } } }",
        as_=tenant.owner,
    )
    editor = await make_member(services, tenant, Role.EDITOR)
    for i, (role, ok) in enumerate([("VIEWER", True), ("EDITOR", True), ("ADMINISTRATOR", False)]):
        body = await api.data(INVITE, {"email": f"p{i}@example.com", "role": role}, as_=editor)
        assert (body["invitationCreate"]["userErrors"] == []) is ok, body
