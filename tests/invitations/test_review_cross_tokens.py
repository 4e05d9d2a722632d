"""Account-bound tokens meeting the consent paths: an API token acts for its user in one
account. It is not the user signing in, so it can neither join another account through a
join link nor accept another account's invitation (which would also hand out a session
valid in every account) without the password."""

from __future__ import annotations

from app.access import Role
from tests.factories import (
    mail_token,
    make_api_token,
    make_member,
    make_tenant,
    take_mail,
)

LINK = """mutation($input: JoinLinkCreateInput!) {
  joinLinkCreate(input: $input) { url userErrors { code } }
}"""
JOIN = """mutation($input: JoinLinkJoinInput!) {
  joinLinkJoin(input: $input) { outcome userErrors { field code } }
}"""
INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { code } }
}"""
ACCEPT = """mutation($t: String!) {
  invitationAccept(input: {token: $t}) { token userErrors { code } }
}"""
MEMBERS = """{ staff(first: 100, filter: {accountStatuses: [ACTIVE, INVITED]}) {
  edges { node { email accountStatus } } } }"""


async def statuses(api, tenant) -> dict[str, str]:
    data = await api.data(MEMBERS, as_=tenant.owner)
    return {e["node"]["email"]: e["node"]["accountStatus"] for e in data["staff"]["edges"]}


async def test_an_api_token_does_not_join_its_user_through_another_accounts_link(api, services):
    a = await make_tenant(services)
    b = await make_tenant(services)
    person = await make_member(services, a, Role.EDITOR)
    key = await make_api_token(services, a, person)
    made = await api.data(LINK, {"input": {"role": "VIEWER"}}, as_=b.owner)
    link = made["joinLinkCreate"]["url"].rsplit("/", 1)[1]

    for password in (None, "not the password at all"):
        body = await api.data(
            JOIN,
            {"input": {"token": link, "email": person.email, "password": password,
                       "firstName": "Per", "lastName": "Son"}},
            token=key,
        )
        assert person.email not in await statuses(api, b), body

    # the user signed in (a session) still joins without retyping the password
    body = await api.data(
        JOIN,
        {"input": {"token": link, "email": person.email, "firstName": "Per",
                   "lastName": "Son"}},
        token=person.token,
    )
    assert body["joinLinkJoin"] == {"outcome": "JOINED", "userErrors": []}
    assert (await statuses(api, b))[person.email] == "ACTIVE"


async def test_an_api_token_does_not_accept_another_accounts_invitation(api, services):
    a = await make_tenant(services)
    b = await make_tenant(services)
    person = await make_member(services, a, Role.EDITOR)
    key = await make_api_token(services, a, person)
    body = await api.data(INVITE, {"input": {"email": person.email}}, as_=b.owner)
    assert body["invitationCreate"]["userErrors"] == []
    [message] = [m for m in await take_mail(services) if m["To"] == person.email]
    token = mail_token(message)

    result = (await api.data(ACCEPT, {"t": token}, token=key))["invitationAccept"]
    assert result == {"token": None, "userErrors": [{"code": "LOGIN_REQUIRED"}]}
    assert (await statuses(api, b))[person.email] == "INVITED"

    result = (await api.data(ACCEPT, {"t": token}, token=person.token))["invitationAccept"]
    assert result["userErrors"] == [] and result["token"]
