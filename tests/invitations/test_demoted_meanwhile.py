"""What hands out a way in or a role waits for a role change under way in the account
(``app.staff.membership.lock_members``) and then acts with the role its actor has: an
administrator demoted to viewer meanwhile approves no join request, revives no
invitation, shares no restricted record and lets nobody invite; an owner who handed the
account over meanwhile changes no plan; an acceptance joins with the role as it is then;
one login's requests to join at once make one; a sign-up waiting while sign-ups are turned
off joins nothing (PostgreSQL: SQLite's writer lock runs one write transaction at a time,
so nothing can change under a request there)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.access import Role
from app.accounts.models import Account
from app.accounts.service import lock_account
from app.db.base import utcnow
from app.invitations.models import Invitation, InvitationStatus, JoinRequest
from app.staff.models import Staff
from tests.factories import (
    error_codes,
    gid,
    mail_token,
    make_member,
    make_tenant,
    take_mail,
    until_waiting_on_a_lock,
    update_row,
)
from tests.invitations.test_flow import ACCEPT
from tests.invitations.test_join_links import APPROVE, create_ok, join

RESEND = """mutation($id: ID!) { invitationResend(input: {id: $id}) { userErrors { code } } }"""
INVITE = """mutation { invitationCreate(input: {email: "late@example.com", role: EDITOR}) {
  invitation { id } userErrors { code } } }"""
SETTINGS = """mutation { accountUpdate(input: {everyoneCanInvite: true}) {
  userErrors { code } } }"""


async def _demoted_meanwhile(api, services, tenant, admin, document, variables=None) -> dict:
    """``document`` sent as ``admin`` while a role change that demotes them to viewer is
    under way (the account locked first, as staffRoleChange does), committed once the
    request waits for it; the request's answer."""
    async with services.db.session(write=True) as other:
        await lock_account(other, tenant.account_id)
        record = await other.get(Staff, admin.staff_pk)
        record.role = Role.VIEWER
        await other.flush()
        acting = asyncio.create_task(api(document, variables or {}, as_=admin))
        await until_waiting_on_a_lock(services, acting)
        assert not acting.done(), "the request did not wait for the role change"
        await other.commit()
    return await acting


async def _invited_newcomer(api, services, tenant) -> tuple[dict, int]:
    """An invitation of someone without a login, sent by the owner: what accepting it
    takes (invitationAccept's input) and its id."""
    made = await api.data(INVITE, as_=tenant.owner)
    assert made["invitationCreate"]["userErrors"] == []
    token = mail_token((await take_mail(services))[-1])
    async with services.db.session() as session:
        [pk] = await session.scalars(select(Invitation.id))
    new = {"token": token, "password": "a good long password", "firstName": "L", "lastName": "A"}
    return new, pk


@pytest.fixture
def postgresql_only(backend):
    if backend == "sqlite":
        pytest.skip("SQLite's writer lock runs one write transaction at a time")


@pytest.mark.usefixtures("postgresql_only")
async def test_a_join_request_is_not_approved_by_an_administrator_demoted_meanwhile(
    api, services
):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    token, _ = await create_ok(api, tenant.owner, role="EDITOR", requiresApproval=True)
    assert (await join(api, token, "asks@example.com"))["outcome"] == "PENDING_APPROVAL"
    async with services.db.session() as session:
        [request_id] = await session.scalars(select(JoinRequest.id))

    body = await _demoted_meanwhile(
        api, services, tenant, admin, APPROVE, {"id": gid("JoinRequest", request_id)}
    )
    assert error_codes(body) == ["FORBIDDEN"], body
    async with services.db.session() as session:
        request = await session.get(JoinRequest, request_id)
        assert request is not None and request.status.value == "PENDING"


@pytest.mark.usefixtures("postgresql_only")
async def test_an_expired_invitation_is_not_revived_by_an_administrator_demoted_meanwhile(
    api, services
):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    made = await api.data(INVITE, as_=admin)
    assert made["invitationCreate"]["userErrors"] == []
    invitation_id = made["invitationCreate"]["invitation"]["id"]
    async with services.db.session() as session:
        [pk] = await session.scalars(select(Invitation.id))
    long_ago = utcnow() - timedelta(days=30)
    await update_row(services, Invitation, pk, expires_at=long_ago, last_sent_at=long_ago)

    body = await _demoted_meanwhile(api, services, tenant, admin, RESEND, {"id": invitation_id})
    assert error_codes(body) == ["FORBIDDEN"], body
    async with services.db.session() as session:
        invitation = await session.get(Invitation, pk)
        assert invitation is not None and invitation.expires_at < utcnow()
        assert invitation.status != InvitationStatus.PENDING or invitation.sent_count == 1


@pytest.mark.usefixtures("postgresql_only")
async def test_every_member_is_not_let_invite_by_an_administrator_demoted_meanwhile(
    api, services
):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)

    body = await _demoted_meanwhile(api, services, tenant, admin, SETTINGS)
    assert error_codes(body) == ["FORBIDDEN"], body
    async with services.db.session() as session:
        account = await session.get(Account, tenant.account_id)
        assert account is not None and account.everyone_can_invite is False


@pytest.mark.usefixtures("postgresql_only")
async def test_an_invitation_that_expires_while_its_acceptance_waits_is_not_accepted(
    api, services
):
    """Accepting claims the invitation at a moment taken under the account lock: one that
    expired while its acceptance checked a password, or waited for the account, had its
    seat counted free by whatever took the account since, and is not accepted."""
    tenant = await make_tenant(services)
    new, pk = await _invited_newcomer(api, services, tenant)
    soon = utcnow() + timedelta(seconds=2)
    await update_row(services, Invitation, pk, expires_at=soon)

    async with services.db.session(write=True) as other:
        await lock_account(other, tenant.account_id)  # an invitation or a join under way
        accepting = asyncio.create_task(api(ACCEPT, {"input": new}))
        await until_waiting_on_a_lock(services, accepting)
        assert not accepting.done(), "the acceptance did not wait for the account"
        await asyncio.sleep(max(0.0, (soon - utcnow()).total_seconds()) + 0.2)
        await other.commit()
    body = await accepting

    [error] = body["data"]["invitationAccept"]["userErrors"]
    assert error["code"] == "TOKEN_EXPIRED", body
    async with services.db.session() as session:
        invitation = await session.get(Invitation, pk)
        assert invitation is not None and invitation.status != InvitationStatus.ACCEPTED


@pytest.mark.usefixtures("postgresql_only")
async def test_a_restricted_record_is_not_shared_by_an_administrator_demoted_meanwhile(
    api, services
):
    from app.staff.models import StaffShare
    from tests.factories import make_staff
    from tests.staff.test_redundant_grants import SHARE

    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    viewer = await make_member(services, tenant, Role.VIEWER)
    record = await make_staff(services, tenant, last_name="Hidden", restricted=True)

    body = await _demoted_meanwhile(
        api, services, tenant, admin, SHARE,
        {"staff": gid("Staff", record.id), "with": viewer.staff_id},
    )  # fmt: skip
    assert error_codes(body) == ["FORBIDDEN"], body
    async with services.db.session() as session:
        assert list(await session.scalars(select(StaffShare))) == []


@pytest.mark.usefixtures("postgresql_only")
async def test_accepting_hashes_a_new_password_before_it_takes_the_account(
    api, services, monkeypatch
):
    """The account's every change waits while an acceptance holds its lock: a new login's
    argon2 hash is made before the lock is taken, not under it."""
    tenant = await make_tenant(services)
    new, _ = await _invited_newcomer(api, services, tenant)
    hashed = asyncio.Event()
    original = services.passwords.hash

    async def noted(*args, **kwargs):
        result = await original(*args, **kwargs)
        hashed.set()
        return result

    monkeypatch.setattr(services.passwords, "hash", noted)
    async with services.db.session(write=True) as other:
        await lock_account(other, tenant.account_id)  # an invitation or a join under way
        accepting = asyncio.create_task(api(ACCEPT, {"input": new}))
        await until_waiting_on_a_lock(services, accepting)
        assert not accepting.done(), "the acceptance did not wait for the account"
        assert hashed.is_set(), "the password is hashed under the account's lock"
        await other.commit()
    body = await accepting
    assert body["data"]["invitationAccept"]["userErrors"] == [], body


@pytest.mark.usefixtures("postgresql_only")
async def test_an_invitation_accepted_while_its_role_changes_joins_with_the_new_role(
    api, services
):
    """The owner lowers an invited record's role (staffRoleChange changes its invitation's
    too) while its invitee, who has a login elsewhere, is accepting (their password being
    checked): the acceptance waits for the account and joins with the role as it is then,
    not the one it read before."""
    from tests.factories import PASSWORD, make_user

    tenant = await make_tenant(services)
    user = await make_user(services)
    made = await api.data(
        """mutation($email: String!) {
          invitationCreate(input: {email: $email, role: ADMINISTRATOR}) {
            invitation { id } userErrors { code } } }""",
        {"email": user.email},
        as_=tenant.owner,
    )
    assert made["invitationCreate"]["userErrors"] == []
    token = mail_token((await take_mail(services))[-1])
    async with services.db.session(write=True) as other:
        await lock_account(other, tenant.account_id)
        [invitation] = await other.scalars(select(Invitation))
        invitation.role = Role.VIEWER
        record = await other.get(Staff, invitation.staff_id)
        record.role = Role.VIEWER
        await other.flush()
        accept = {"input": {"token": token, "password": PASSWORD}}
        accepting = asyncio.create_task(api(ACCEPT, accept))
        await until_waiting_on_a_lock(services, accepting)
        assert not accepting.done(), "the acceptance did not wait for the role change"
        await other.commit()
    body = await accepting
    assert error_codes(body) == [], body
    async with services.db.session() as session:
        joined = await session.get(Staff, record.id)
    assert (joined.role, joined.user_id) == (Role.VIEWER, user.id)


@pytest.mark.usefixtures("postgresql_only")
async def test_two_requests_to_join_of_one_login_at_once_make_one(api, app, services):
    """Two links of the account used at once by someone signed in, from two addresses:
    both find no request waiting before the account's lock; the second, asked again
    under it, is told it asked already, and only one request waits (one round of
    emails). (From one address, the address's rate-limit row makes them take turns.)"""
    import httpx
    from sqlalchemy import text

    from tests.factories import Api

    async def join_from(address: str, link: str) -> dict:
        transport = httpx.ASGITransport(app=app, client=(address, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://roster.test") as c:
            return await join(Api(c), link, user.email, password=None, auth=user.token)

    tenant = await make_tenant(services)
    user = (await make_tenant(services)).owner  # signed in, a member of another account
    token, _ = await create_ok(api, tenant.owner, requiresApproval=True)
    other_token, _ = await create_ok(api, tenant.owner, requiresApproval=True)
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with services.db.session(write=True) as other:
        await lock_account(other, tenant.account_id)
        joins = [
            asyncio.create_task(join_from(address, link))
            for address, link in (("198.51.100.1", token), ("198.51.100.2", other_token))
        ]
        for _ in range(500):
            async with services.db.session() as look:
                if await look.scalar(waiting) >= 2 or any(j.done() for j in joins):
                    break
            await asyncio.sleep(0.02)
        assert not any(j.done() for j in joins), "the joins did not wait for the account"
        await other.commit()
    answers = await asyncio.gather(*joins)
    async with services.db.session() as session:
        asked = list(
            await session.scalars(select(JoinRequest).where(JoinRequest.user_id == user.user_id))
        )
    assert len(asked) == 1, answers


@pytest.mark.usefixtures("postgresql_only")
async def test_the_plan_is_not_changed_by_an_owner_who_handed_the_account_over_meanwhile(
    api, services
):
    tenant = await make_tenant(services)
    heir = await make_member(services, tenant, Role.ADMINISTRATOR)
    async with services.db.session() as session:
        account = await session.get(Account, tenant.account_id)
        plan, seat_limit = account.plan, account.seat_limit
    assert plan != "TEAM"
    change = """mutation { accountPlanChange(input: {plan: TEAM}) {
      account { plan } userErrors { code } } }"""
    async with services.db.session(write=True) as other:
        await lock_account(other, tenant.account_id)
        owner = await other.get(Staff, tenant.owner.staff_pk)
        owner.role = Role.ADMINISTRATOR
        await other.flush()
        (await other.get(Staff, heir.staff_pk)).role = Role.OWNER
        await other.flush()
        changing = asyncio.create_task(api(change, as_=tenant.owner))
        await until_waiting_on_a_lock(services, changing)
        assert not changing.done(), "the plan change did not wait for the handover"
        await other.commit()
    assert error_codes(await changing) == ["FORBIDDEN"]
    async with services.db.session() as session:
        account = await session.get(Account, tenant.account_id)
    assert (account.plan, account.seat_limit) == (plan, seat_limit)


@pytest.mark.usefixtures("postgresql_only")
async def test_a_sign_up_waiting_while_sign_ups_are_turned_off_joins_nothing(api, services):
    from tests.invitations.test_open_signup import OPEN, SIGNUP, _input, _person

    tenant = await make_tenant(services)
    assert (await api.data(OPEN, {"on": True}, as_=tenant.owner))["accountUpdate"]
    async with services.db.session(write=True) as other:
        account = await lock_account(other, tenant.account_id)
        account.self_signup = False
        await other.flush()
        signing_up = asyncio.create_task(api(SIGNUP, _input(tenant.slug, "cora@client.co")))
        await until_waiting_on_a_lock(services, signing_up)
        assert not signing_up.done(), "the sign-up did not wait for the account"
        await other.commit()
    body = await signing_up
    assert body["data"]["accountSignup"]["userErrors"] == [
        {"field": ["input", "account"], "code": "NOT_FOUND"}
    ], body
    assert await _person(api, tenant, "cora@client.co") is None
