"""Disabling a member ends every token that could act in that account, so enabling them
again revives none of them; their sessions still work in their other accounts."""

from __future__ import annotations

from app.access import Role
from tests.factories import PASSWORD, add_membership, error_codes, make_member, make_tenant

DISABLE = """mutation($id: ID!) {
  staffDisable(input: {staffId: $id}) { staff { accountStatus } userErrors { code } }
}"""
ENABLE = DISABLE.replace("staffDisable", "staffEnable")
DELETE = """mutation($id: ID!) { staffDelete(input: {staffId: $id}) { userErrors { code } } }"""
TOKEN_CREATE = (
    """mutation { apiTokenCreate(input: {name: "sync"}) { token userErrors { code } } }"""
)
VIEWER = "{ viewer { role } }"
LOGIN = """mutation($e: String!, $p: String!) {
  login(input: {email: $e, password: $p}) { token userErrors { code } }
}"""


async def codes(api, token, realm):
    return error_codes(await api(VIEWER, token=token, realm=realm))


async def test_disable_then_enable_leaves_old_tokens_dead(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.EDITOR)
    key = (await api.data(TOKEN_CREATE, as_=member))["apiTokenCreate"]["token"]
    assert await codes(api, member.token, member.realm) == []
    assert await codes(api, key, None) == []

    body = await api.data(DISABLE, {"id": member.staff_id}, as_=tenant.owner)
    assert body["staffDisable"]["userErrors"] == []
    body = await api.data(ENABLE, {"id": member.staff_id}, as_=tenant.owner)
    assert body["staffEnable"]["staff"]["accountStatus"] == "ACTIVE"

    assert await codes(api, member.token, member.realm) == ["UNAUTHENTICATED"]
    assert await codes(api, key, None) == ["UNAUTHENTICATED"]
    # signing in again works
    login = (await api.data(LOGIN, {"e": member.email, "p": PASSWORD}))["login"]
    assert await codes(api, login["token"], member.realm) == []


async def test_old_sessions_stay_out_of_the_account_but_work_in_others(api, services):
    a = await make_tenant(services)
    b = await make_tenant(services)
    person = await make_member(services, a, Role.EDITOR)
    in_b = await add_membership(services, b, person.user_id)
    await api.data(DISABLE, {"id": person.staff_id}, as_=a.owner)
    assert await codes(api, person.token, b.slug) == []
    await api.data(ENABLE, {"id": person.staff_id}, as_=a.owner)
    for token in (person.token, in_b.token):
        assert await codes(api, token, a.slug) == ["UNAUTHENTICATED"]
        assert await codes(api, token, b.slug) == []


async def test_disable_ends_tokens_of_that_member_only(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    bystander = await make_member(services, tenant)
    await api.data(DISABLE, {"id": member.staff_id}, as_=tenant.owner)
    assert await codes(api, bystander.token, bystander.realm) == []
    assert await codes(api, tenant.owner.token, tenant.owner.realm) == []


async def test_delete_ends_the_members_tokens(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.EDITOR)
    key = (await api.data(TOKEN_CREATE, as_=member))["apiTokenCreate"]["token"]
    body = await api.data(DELETE, {"id": member.staff_id}, as_=tenant.owner)
    assert body["staffDelete"]["userErrors"] == []
    assert await codes(api, key, None) == ["UNAUTHENTICATED"]
    assert await codes(api, member.token, member.realm) == ["UNAUTHENTICATED"]


INVITE = """mutation($email: String!) {
  invitationCreate(input: {email: $email, role: EDITOR}) { userErrors { code } } }"""
ACCEPT = """mutation($t: String!, $p: String!) {
  invitationAccept(input: {token: $t, password: $p}) { token userErrors { code } } }"""


async def test_a_deleted_members_old_tokens_stay_out_when_they_come_back(api, services):
    """Deleting a record ends its member's tokens there; the record is gone, but the cut
    stays with the account: invited again, the person's sessions from before the delete
    (a stolen one, say) do not act in the account. Their new session does, and their old
    ones still work in their other accounts."""
    from tests.factories import mail_token, take_mail

    tenant = await make_tenant(services)
    elsewhere = await make_tenant(services)
    member = await make_member(services, tenant, Role.EDITOR)
    in_elsewhere = await add_membership(services, elsewhere, member.user_id)
    body = await api.data(DELETE, {"id": member.staff_id}, as_=tenant.owner)
    assert body["staffDelete"]["userErrors"] == []

    invited = await api.data(INVITE, {"email": member.email}, as_=tenant.owner)
    assert invited["invitationCreate"]["userErrors"] == []
    [mail] = await take_mail(services)
    accepted = await api.data(ACCEPT, {"t": mail_token(mail), "p": PASSWORD})
    assert accepted["invitationAccept"]["userErrors"] == []

    for old in (member.token, in_elsewhere.token):
        assert await codes(api, old, tenant.slug) == ["UNAUTHENTICATED"]
        assert await codes(api, old, elsewhere.slug) == []
    assert await codes(api, accepted["invitationAccept"]["token"], tenant.slug) == []
    login = (await api.data(LOGIN, {"e": member.email, "p": PASSWORD}))["login"]
    assert await codes(api, login["token"], tenant.slug) == []
