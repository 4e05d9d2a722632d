"""An audit entry belongs to the account whose data changed, never to the account the
actor happened to sign in to: a member of account A who accepts B's invitation or joins
through B's link while sending A's realm changes B, so B's log has the entry, A's does not.
"""

from __future__ import annotations

from sqlalchemy import select

from app.access import Role
from app.audit.models import AuditEntry
from tests.factories import mail_token, make_member, make_tenant, take_mail

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { code } }
}"""
ACCEPT = """mutation($input: InvitationAcceptInput!) {
  invitationAccept(input: $input) { token userErrors { code } }
}"""
LINK = """mutation($input: JoinLinkCreateInput!) {
  joinLinkCreate(input: $input) { url userErrors { code } }
}"""
JOIN = """mutation($input: JoinLinkJoinInput!) {
  joinLinkJoin(input: $input) { outcome userErrors { code } }
}"""
LOG = "{ auditLog(first: 100) { edges { node { action actorStaffId diff } } } }"


async def actions(api, member) -> list[str]:
    data = await api.data(LOG, as_=member)
    return [e["node"]["action"] for e in data["auditLog"]["edges"]]


async def entries(services, action: str) -> list[AuditEntry]:
    async with services.db.session() as session:
        rows = await session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return list(rows)


async def test_accepting_another_accounts_invitation_is_audited_in_that_account(api, services):
    a = await make_tenant(services)
    b = await make_tenant(services)
    person = await make_member(services, a, Role.EDITOR)
    data = await api.data(INVITE, {"input": {"email": person.email, "role": "VIEWER"}}, as_=b.owner)
    assert data["invitationCreate"]["userErrors"] == []
    [message] = await take_mail(services)

    # signed in with A's realm, accepting B's invitation
    accepted = await api.data(ACCEPT, {"input": {"token": mail_token(message)}}, as_=person)
    assert accepted["invitationAccept"]["userErrors"] == []

    [entry] = await entries(services, "invitationAccept")
    assert entry.account_id == b.account_id
    assert entry.actor_user_id == person.user_id
    assert entry.actor_staff_id is None  # the actor's staff id is A's, not B's
    assert all(c.get("account_id") in (None, b.account_id) for c in entry.diff)
    assert "invitationAccept" in await actions(api, b.owner)
    assert "invitationAccept" not in await actions(api, a.owner)


async def test_joining_through_another_accounts_link_is_audited_in_that_account(api, services):
    a = await make_tenant(services)
    b = await make_tenant(services)
    person = await make_member(services, a, Role.EDITOR)
    link = await api.data(LINK, {"input": {"role": "VIEWER"}}, as_=b.owner)
    token = link["joinLinkCreate"]["url"].rsplit("/", 1)[1]

    joined = await api.data(
        JOIN,
        {"input": {"token": token, "email": person.email, "firstName": "Jo", "lastName": "Y"}},
        as_=person,
    )
    assert joined["joinLinkJoin"]["outcome"] == "JOINED", joined

    [entry] = await entries(services, "joinLinkJoin")
    assert entry.account_id == b.account_id
    assert entry.actor_staff_id is None
    assert "joinLinkJoin" in await actions(api, b.owner)
    assert "joinLinkJoin" not in await actions(api, a.owner)


async def test_a_change_of_the_actors_own_account_keeps_the_actor(api, services):
    a = await make_tenant(services)
    data = await api.data(
        INVITE, {"input": {"email": "new@example.com", "role": "VIEWER"}}, as_=a.owner
    )
    assert data["invitationCreate"]["userErrors"] == []
    [entry] = await entries(services, "invitationCreate")
    assert entry.account_id == a.account_id
    assert entry.actor_staff_id == a.owner.staff_pk


def test_changes_of_several_accounts_are_split_per_account():
    from app.audit.service import by_account

    user = {"table": "users", "id": 1, "op": "update", "account_id": None, "fields": {}}
    token_a = {"table": "auth_tokens", "id": 2, "op": "update", "account_id": 10, "fields": {}}
    token_b = {"table": "auth_tokens", "id": 3, "op": "update", "account_id": 20, "fields": {}}
    groups = by_account([user, token_a, token_b], actor_account_id=None)
    assert groups == {10: [user, token_a], 20: [user, token_b]}
    account = {"table": "accounts", "id": 30, "op": "insert", "account_id": None, "fields": {}}
    assert by_account([user, account], actor_account_id=10) == {30: [user, account]}
    # nothing of any account: the actor's account if about its members, else no account
    assert by_account([user], actor_account_id=10, members={1}) == {10: [user]}
    assert by_account([user], actor_account_id=10, members={5}) == {None: [user]}
    reset = {"table": "user_tokens", "id": 4, "op": "insert", "account_id": None,
             "fields": {"user_id": [None, 7]}}
    assert by_account([reset], actor_account_id=10, members={7}) == {10: [reset]}
    assert by_account([reset], actor_account_id=10, members={1}) == {None: [reset]}


SIGNUP = """mutation($input: SignupInput!) { signup(input: $input) { ok userErrors { code } } }"""
RESET = """mutation($e: String!) { passwordResetRequest(input: {email: $e}) { ok } }"""


async def test_signing_up_while_signed_in_elsewhere_is_audited_in_the_new_account(
    api, services
):
    from app.accounts.models import Account

    a = await make_tenant(services)
    data = await api.data(
        SIGNUP,
        {"input": {"email": "founder@example.com", "password": "a long enough password",
                   "firstName": "Fay", "lastName": "Founder", "accountName": "Fresh Co",
                   "accountSlug": "fresh-co"}},
        as_=a.owner,
    )
    assert data["signup"] == {"ok": True, "userErrors": []}
    async with services.db.session() as session:
        # the slug it asked for, taken once the founder confirms their email
        fresh = await session.scalar(select(Account.id).where(Account.pending_slug == "fresh-co"))
    [entry] = await entries(services, "signup")
    assert entry.account_id == fresh
    assert "signup" not in await actions(api, a.owner)


async def test_a_public_request_about_a_login_is_no_accounts_affair(api, services):
    """Sent with a member's credentials, a public request about somebody's login does not
    land in the sender's account (its administrators would learn who has a login)."""
    a = await make_tenant(services)
    b = await make_tenant(services)
    stranger = await make_member(services, b, Role.VIEWER)
    await api.data(RESET, {"e": stranger.email}, as_=a.owner)
    [entry] = await entries(services, "passwordResetRequest")
    assert entry.account_id is None
    assert "passwordResetRequest" not in await actions(api, a.owner)
