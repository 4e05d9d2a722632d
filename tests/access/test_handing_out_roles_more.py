"""The other places a role is handed out or a way in is kept: rotating a join link hands
out its role (and makes the link the rotator's), the staff import's invitations hand out
their rows' roles (the dry run says so as applying would), revoking hands nothing out,
and turning everyoneCanInvite off withdraws what members sent under it."""

from __future__ import annotations

from sqlalchemy import select

from app.access import Permit, Role
from app.access.scopes import Scope
from app.accounts.models import Account
from app.errors import DomainError
from app.invitations import join_links
from app.invitations.models import JoinLink
from app.staff.models import AccountStatus, Staff
from tests.access.test_handing_out_roles import EVERY_API_SCOPE
from tests.factories import error_codes, make_api_token, make_member, make_tenant
from tests.invitations.test_join_links import ROTATE, create_ok, join, token_of
from tests.staff.test_bulk_import import run, to_csv

INVITE = """mutation($email: String!, $role: Role) {
  invitationCreate(input: {email: $email, role: $role}) {
    invitation { id } userErrors { code } } }"""
REVOKE = """mutation($id: ID!) {
  invitationRevoke(input: {id: $id}) { invitation { status } userErrors { code } } }"""
INVITATIONS = "{ invitations { edges { node { email status } } } }"
DISABLE_STAFF = "mutation($id: ID!) { staffDisable(input: {staffId: $id}) { userErrors { code } } }"
LINKS = "{ joinLinks { id disabled } }"


def key_caller(key: str, tenant) -> dict:
    return {"token": key, "realm": tenant.slug}


async def test_rotating_a_link_hands_out_its_role_and_makes_it_the_rotators(api, services):
    tenant = await make_tenant(services)
    _, link = await create_ok(api, tenant.owner, role="ADMINISTRATOR")
    key = await make_api_token(services, tenant, tenant.owner, scopes=EVERY_API_SCOPE)
    body = await api(ROTATE, {"id": link["id"]}, **key_caller(key, tenant))
    payload = body["data"]["joinLinkRotate"]
    assert payload["url"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["FORBIDDEN"]

    # an administrator who rotates it holds its new token: the link is theirs from then on,
    # and goes when they do
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    rotated = await api.data(ROTATE, {"id": link["id"]}, as_=admin)
    assert rotated["joinLinkRotate"]["userErrors"] == []
    token = token_of(rotated["joinLinkRotate"]["url"])
    await api.data(DISABLE_STAFF, {"id": admin.staff_id}, as_=tenant.owner)
    assert (await api.data(LINKS, as_=tenant.owner))["joinLinks"] == [
        {"id": link["id"], "disabled": True}
    ]
    assert (await join(api, token, "back.door@example.com"))["userErrors"][0]["code"] == (
        "LINK_DISABLED"
    )


async def test_a_join_through_a_link_turned_off_since_it_was_read_is_refused(api, services):
    """The join reads the link, then waits for the account's lock (its seat) while the
    link's maker is disabled: the use that follows is refused, not counted."""
    tenant = await make_tenant(services)
    token, link = await create_ok(api, tenant.owner)
    async with services.db.session() as session:
        stale = await session.scalar(select(JoinLink))
        session.expunge(stale)
    await api.data(
        "mutation($id: ID!) { joinLinkDisable(input: {id: $id}) { userErrors { code } } }",
        {"id": link["id"]},
        as_=tenant.owner,
    )
    async with services.db.session(write=True) as session:
        session.add(stale)
        try:
            await join_links._use(session, stale, "late@example.com")
        except DomainError as exc:
            assert exc.code.value == "LINK_DISABLED"
        else:
            raise AssertionError("a disabled link was used")
    assert (await api.data("{ joinLinks { uses } }", as_=tenant.owner))["joinLinks"] == [
        {"uses": 0}
    ]


async def test_the_imports_invitations_hand_out_their_roles(api, services):
    tenant = await make_tenant(services, seats=10)
    key = await make_api_token(services, tenant, tenant.owner, scopes=EVERY_API_SCOPE)
    rows = [
        {"firstName": "Al", "lastName": "Admin", "email": "al@example.com", "role": "ADMINISTRATOR"}
    ]
    for apply in (False, True):
        body = await api(
            "mutation($csv: String!, $apply: Boolean!) { staffImport(input: {csv: $csv, "
            "apply: $apply, invite: true}) { applied invited errors { row column code } "
            "userErrors { code } } }",
            {"csv": to_csv(rows), "apply": apply},
            **key_caller(key, tenant),
        )
        result = body["data"]["staffImport"]
        assert result["applied"] is False
        assert result["errors"] == [{"row": 2, "column": "role", "code": "FORBIDDEN"}]
    # without inviting, the record alone is the rank rule's, and the key adds it
    added = await run(api, tenant.owner, to_csv(rows), apply=True)
    assert added["applied"] is True


async def test_revoking_hands_nothing_out(api, services):
    """A key with only invitations:write invites nobody (it holds none of a role's
    permits) but still revokes its creator's invitations."""
    tenant = await make_tenant(services)
    made = await api.data(INVITE, {"email": "new@example.com", "role": "VIEWER"}, as_=tenant.owner)
    invitation_id = made["invitationCreate"]["invitation"]["id"]
    key = await make_api_token(services, tenant, tenant.owner, scopes=[Scope.INVITATIONS_WRITE])
    body = await api.data(REVOKE, {"id": invitation_id}, **key_caller(key, tenant))
    assert body["invitationRevoke"] == {"invitation": {"status": "REVOKED"}, "userErrors": []}


async def test_turning_everyone_can_invite_off_withdraws_what_members_sent_under_it(api, services):
    tenant = await make_tenant(services, seats=10)
    setting = "mutation($on: Boolean!) { accountUpdate(input: {everyoneCanInvite: $on}) { userErrors { code } } }"
    await api.data(setting, {"on": True}, as_=tenant.owner)
    editor = await make_member(services, tenant, Role.EDITOR)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    for member, email in ((editor, "friend@example.com"), (admin, "hire@example.com")):
        body = await api.data(INVITE, {"email": email, "role": "VIEWER"}, as_=member)
        assert body["invitationCreate"]["userErrors"] == []
    await api.data(setting, {"on": False}, as_=tenant.owner)
    edges = (await api.data(INVITATIONS, as_=tenant.owner))["invitations"]["edges"]
    assert {e["node"]["email"]: e["node"]["status"] for e in edges} == {
        "friend@example.com": "REVOKED",
        "hire@example.com": "PENDING",
    }
    assert error_codes(await api(INVITE, {"email": "x@example.com"}, as_=editor)) == ["FORBIDDEN"]


async def test_an_invitation_begun_before_everyone_can_invite_went_off_is_refused(api, services):
    """An editor's invitationCreate authenticated while every member could invite, and
    reaching the account's lock after the setting went off, is refused there: the
    withdrawal it would have followed has already run."""
    from app.errors import Forbidden
    from app.identity.service import member_actor
    from app.invitations.service import InvitationRequest, create_invitation

    tenant = await make_tenant(services, seats=10)
    setting = (
        "mutation($on: Boolean!) { accountUpdate(input: {everyoneCanInvite: $on}) "
        "{ userErrors { code } } }"
    )
    await api.data(setting, {"on": True}, as_=tenant.owner)
    editor = await make_member(services, tenant, Role.EDITOR)
    async with services.db.session() as session:
        account = await session.get_one(Account, tenant.account_id)
        staff = await session.get_one(Staff, editor.staff_pk)
        actor = await member_actor(session, editor.user_id, account, staff)
    assert actor.can(Permit.INVITE_USERS)  # as the request found it
    await api.data(setting, {"on": False}, as_=tenant.owner)
    request = InvitationRequest(email="late@example.com", role=Role.VIEWER)
    async with services.db.session(write=True) as session:
        try:
            await create_invitation(session, actor, services.settings, request)
        except Forbidden:
            pass
        else:
            raise AssertionError("an invitation was made after the setting went off")
    edges = (await api.data(INVITATIONS, as_=tenant.owner))["invitations"]["edges"]
    assert edges == []


async def test_the_operators_import_invites_as_an_owner_without_a_login(api, services):
    """``roster staff import --invite --apply`` acts as the owner; after a restore the
    owner's record has no login yet (NOT_INVITED), and the import still invites."""
    from app.staff.bulk_import import import_as_owner
    from tests.factories import update_row

    tenant = await make_tenant(services, seats=10)
    await update_row(
        services, Staff, tenant.owner.staff_pk, account_status=AccountStatus.NOT_INVITED
    )
    rows = [{"firstName": "In", "lastName": "Vitee", "email": "invitee@example.com"}]
    report = await import_as_owner(
        services.settings, tenant.slug, to_csv(rows), apply=True, invite=True
    )
    assert (report.applied, report.invited) == (True, 1)
