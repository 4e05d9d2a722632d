"""The owner's record without a login (as a restore leaves it, ``RESTORED_STATUS``) gets
one through an invitation, a join link, an approved join request or a sign-up into the
account, and stays the owner's: no way in changes the owner's role, and none makes a
second owner (``app.access.roles.joining_role``)."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.access import Role
from app.accounts.backup import export_account_to
from app.accounts.backup_document import RESTORED_STATUS
from app.accounts.restore import restore_account
from app.db.base import utcnow
from app.graphql.ids import decode_id
from app.invitations.models import Invitation
from app.staff.models import AccountStatus, Staff
from tests.conftest import make_settings
from tests.factories import (
    PASSWORD,
    gid,
    mail_text,
    mail_token,
    make_member,
    make_staff,
    make_tenant,
    take_mail,
    update_row,
)

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) {
    invitation { id email role status staff { id role accountStatus } }
    userErrors { field code message }
  }
}"""
ACCEPT = """mutation($input: InvitationAcceptInput!) {
  invitationAccept(input: $input) {
    token staff { id role accountStatus } userErrors { field code }
  }
}"""
RESEND = """mutation($id: ID!) {
  invitationResend(input: {id: $id}) { invitation { role status sentCount } userErrors { code } }
}"""
REVOKE = """mutation($id: ID!) {
  invitationRevoke(input: {id: $id}) { invitation { status } userErrors { code } }
}"""
PREVIEW = "query($t: String!) { invitationPreview(token: $t) { role status } }"
LINK = """mutation($input: JoinLinkCreateInput!) {
  joinLinkCreate(input: $input) { url userErrors { field code } }
}"""
JOIN = """mutation($input: JoinLinkJoinInput!) {
  joinLinkJoin(input: $input) { outcome userErrors { field code } }
}"""
REQUESTS = "{ joinRequests(status: PENDING) { id role } }"
APPROVE = """mutation($id: ID!) {
  joinRequestApprove(input: {id: $id}) { staff { id role accountStatus } userErrors { code } }
}"""
OPEN = """mutation { accountUpdate(input: {selfSignup: true}) { userErrors { code } } }"""
SIGNUP = """mutation($input: AccountSignupInput!) {
  accountSignup(input: $input) { userErrors { field code } }
}"""
VIEWER = "{ viewer { role permits staff { id role accountStatus } } }"
OWNERS = "{ staff(first: 100, filter: {roles: [OWNER]}) { nodes { id accountStatus } } }"
TRANSFER = """mutation($id: ID!, $password: String!) {
  accountOwnershipTransfer(input: {staffId: $id, password: $password}) {
    owner { id role } previousOwner { id role } userErrors { code }
  }
}"""
SEATS = "{ account { seats { used reserved available } } }"
NEW_PASSWORD = "a good long password"
_slugs = itertools.count(1)


async def restored_owner(services, tenant) -> None:
    """The owner's record as a restore leaves it: no login, NOT_INVITED."""
    await update_row(
        services,
        Staff,
        tenant.owner.staff_pk,
        user_id=None,
        account_status=RESTORED_STATUS[AccountStatus.ACTIVE],
    )


async def owner_rows(services, account_id: int) -> list[tuple[int, AccountStatus]]:
    """The account's owners, read from the database (not through anyone's eyes)."""
    async with services.db.session() as session:
        rows = await session.execute(
            select(Staff.id, Staff.account_status).where(
                Staff.account_id == account_id, Staff.role == Role.OWNER
            )
        )
        return [tuple(r) for r in rows]


async def invitation_count(services, account_id: int) -> int:
    async with services.db.session() as session:
        return await session.scalar(
            select(func.count()).select_from(Invitation).where(Invitation.account_id == account_id)
        )


@pytest.fixture
def settings(database_url):
    """Many sign-ups and joins from one address (the Hypothesis test's examples share it)."""
    return make_settings(
        database_url,
        rate_limits={"signup_address": 10_000, "join_address": 10_000, "login_email": 10_000},
    )


async def backup_and_restore(services, tenant, tmp_path, prefix: str) -> tuple[int, str]:
    """The account backed up (``roster account export``, to ``tmp_path / "backup.json"``)
    and restored under a new slug: the copy's id and slug."""
    path = tmp_path / "backup.json"
    await export_account_to(services.settings, tenant.slug, str(path))
    async with services.db.session(write=True) as session:
        restored = await restore_account(
            session, path.read_bytes(), services.settings.keyring, slug=f"{prefix}-{next(_slugs)}"
        )
        await session.commit()
    return restored.account.id, restored.account.slug


async def setup(services):
    """An account whose owner's record has no login, and an administrator who does."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    await restored_owner(services, tenant)
    return tenant, admin


async def invite(api, by, **fields) -> dict:
    return (await api.data(INVITE, {"input": fields}, as_=by))["invitationCreate"]


async def link_token(api, by, **fields) -> str:
    payload = (await api.data(LINK, {"input": fields}, as_=by))["joinLinkCreate"]
    assert payload["userErrors"] == [], payload
    return payload["url"].rsplit("/", 1)[1]


def _join_input(token: str, email: str) -> dict:
    return {
        "input": {
            "token": token,
            "email": email,
            "password": PASSWORD,
            "firstName": "Olive",
            "lastName": "Owner",
        }
    }


async def as_owner_again(api, tenant, token: str) -> None:
    """``token`` acts as the account's owner: its viewer is the owner's record, and it can
    do what only the owner can (transfer ownership, which keeps exactly one owner)."""
    viewer = (await api.data(VIEWER, token=token, realm=tenant.slug))["viewer"]
    assert viewer["role"] == "OWNER"
    assert "MANAGE_BILLING" in viewer["permits"]
    assert viewer["staff"] == {
        "id": tenant.owner.staff_id,
        "role": "OWNER",
        "accountStatus": "ACTIVE",
    }


# --- (1) an invitation of the owner's record ---


@pytest.mark.parametrize("by", ["staffId", "email"])
async def test_an_administrator_invites_the_owners_record_and_it_stays_the_owners(
    api, services, by
):
    tenant, admin = await setup(services)
    target = (
        {"staffId": tenant.owner.staff_id, "email": tenant.owner.email}
        if by == "staffId"
        else {"email": tenant.owner.email}
    )
    payload = await invite(api, admin, **target)
    assert payload["userErrors"] == []
    assert payload["invitation"]["role"] == "OWNER"  # what it offers: the record's role
    assert payload["invitation"]["staff"] == {
        "id": tenant.owner.staff_id,
        "role": "OWNER",
        "accountStatus": "INVITED",
    }
    assert await owner_rows(services, tenant.account_id) == [
        (tenant.owner.staff_pk, AccountStatus.INVITED)
    ]
    [mail] = await take_mail(services)
    assert mail["To"] == tenant.owner.email
    token = mail_token(mail)
    preview = (await api.data(PREVIEW, {"t": token}))["invitationPreview"]
    assert preview == {"role": "OWNER", "status": "PENDING"}

    # the person at the owner's address has a login (e.g. in another account): its password
    accepted = (await api.data(ACCEPT, {"input": {"token": token, "password": PASSWORD}}))[
        "invitationAccept"
    ]
    assert accepted["userErrors"] == []
    assert accepted["staff"] == {
        "id": tenant.owner.staff_id,
        "role": "OWNER",
        "accountStatus": "ACTIVE",
    }
    assert await owner_rows(services, tenant.account_id) == [
        (tenant.owner.staff_pk, AccountStatus.ACTIVE)
    ]
    await as_owner_again(api, tenant, accepted["token"])
    moved = (
        await api.data(
            TRANSFER,
            {"id": admin.staff_id, "password": PASSWORD},
            token=accepted["token"],
            realm=tenant.slug,
        )
    )["accountOwnershipTransfer"]
    assert moved["userErrors"] == []
    assert moved["owner"] == {"id": admin.staff_id, "role": "OWNER"}
    assert moved["previousOwner"] == {"id": tenant.owner.staff_id, "role": "ADMINISTRATOR"}
    assert await owner_rows(services, tenant.account_id) == [(admin.staff_pk, AccountStatus.ACTIVE)]


async def test_a_new_login_accepting_the_owners_invitation_becomes_the_owner(api, services):
    tenant, admin = await setup(services)
    await update_row(services, Staff, tenant.owner.staff_pk, email="olive.new@example.com")
    payload = await invite(
        api, admin, staffId=tenant.owner.staff_id, email="olive.new@example.com", role="OWNER"
    )
    assert payload["userErrors"] == []  # naming the record's own role is no hand-out
    assert payload["invitation"]["role"] == "OWNER"
    [mail] = await take_mail(services)
    accepted = (
        await api.data(
            ACCEPT,
            {"input": {"token": mail_token(mail), "password": NEW_PASSWORD, "firstName": "Olive"}},
        )
    )["invitationAccept"]
    assert accepted["userErrors"] == []
    assert accepted["staff"]["role"] == "OWNER"
    await as_owner_again(api, tenant, accepted["token"])
    assert len(await owner_rows(services, tenant.account_id)) == 1


async def test_the_owners_invitation_is_resent_and_revoked_by_an_administrator(api, services):
    tenant, admin = await setup(services)
    payload = await invite(api, admin, staffId=tenant.owner.staff_id, email=tenant.owner.email)
    assert payload["userErrors"] == []
    invitation_id = payload["invitation"]["id"]
    await update_row(services, Invitation, _pk(invitation_id), last_sent_at=_long_ago())
    resent = (await api.data(RESEND, {"id": invitation_id}, as_=admin))["invitationResend"]
    assert resent == {
        "invitation": {"role": "OWNER", "status": "PENDING", "sentCount": 2},
        "userErrors": [],
    }
    revoked = (await api.data(REVOKE, {"id": invitation_id}, as_=admin))["invitationRevoke"]
    assert revoked == {"invitation": {"status": "REVOKED"}, "userErrors": []}
    assert await owner_rows(services, tenant.account_id) == [
        (tenant.owner.staff_pk, AccountStatus.NOT_INVITED)
    ]


def _pk(global_id: str) -> int:
    return decode_id(global_id, "Invitation")


def _long_ago():
    return utcnow() - timedelta(hours=1)  # past the resend cooldown


# --- (3) another role for the owner's record is refused, and changes nothing ---


@pytest.mark.parametrize("role", ["GUEST", "VIEWER", "EDITOR", "ADMINISTRATOR"])
@pytest.mark.parametrize("by", ["staffId", "email"])
async def test_inviting_the_owners_record_with_another_role_is_refused(api, services, role, by):
    tenant, admin = await setup(services)
    seats = await api.data(SEATS, as_=admin)
    target = (
        {"staffId": tenant.owner.staff_id, "email": tenant.owner.email}
        if by == "staffId"
        else {"email": tenant.owner.email}
    )
    payload = await invite(api, admin, role=role, **target)
    assert payload["invitation"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "role"], "FORBIDDEN")
    ]
    assert "owner" in payload["userErrors"][0]["message"]
    assert await owner_rows(services, tenant.account_id) == [
        (tenant.owner.staff_pk, AccountStatus.NOT_INVITED)
    ]
    assert await invitation_count(services, tenant.account_id) == 0
    assert await api.data(SEATS, as_=admin) == seats
    assert await take_mail(services) == []


async def test_the_owners_record_is_invited_at_its_own_address_only(api, services):
    """Readdressing it by the invitation would let the inviter choose who becomes the owner."""
    tenant, admin = await setup(services)
    for role in (None, "OWNER"):
        payload = await invite(
            api, admin, staffId=tenant.owner.staff_id, email="mine@example.com", role=role
        )
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
            (["input", "email"], "FORBIDDEN")
        ]
    assert await invitation_count(services, tenant.account_id) == 0
    async with services.db.session() as session:
        owner = await session.get(Staff, tenant.owner.staff_pk)
        assert (owner.email, owner.role) == (tenant.owner.email, Role.OWNER)


async def test_nobody_else_is_invited_as_owner(api, services):
    tenant, admin = await setup(services)
    other = await make_staff(
        services, tenant, first_name="Al", last_name="Other", email="al@example.com"
    )
    payload = await invite(
        api, admin, staffId=gid("Staff", other.id), email="al@example.com", role="OWNER"
    )
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "role"], "FORBIDDEN")
    ]
    payload = await invite(api, admin, email="new@example.com", role="OWNER")
    assert [e["code"] for e in payload["userErrors"]] == ["FORBIDDEN"]
    assert await owner_rows(services, tenant.account_id) == [
        (tenant.owner.staff_pk, AccountStatus.NOT_INVITED)
    ]


# --- (2) a join link, an approved join request, a sign-up at the owner's address ---


@pytest.mark.parametrize("role", ["GUEST", "VIEWER", "EDITOR", "ADMINISTRATOR"])
async def test_joining_through_a_link_at_the_owners_address_keeps_the_owner(api, services, role):
    tenant, admin = await setup(services)
    token = await link_token(api, admin, role=role)
    body = (await api.data(JOIN, _join_input(token, tenant.owner.email)))["joinLinkJoin"]
    assert body == {"outcome": "JOINED", "userErrors": []}
    assert await owner_rows(services, tenant.account_id) == [
        (tenant.owner.staff_pk, AccountStatus.ACTIVE)
    ]
    await as_owner_again(api, tenant, tenant.owner.token)


async def test_an_approved_join_request_at_the_owners_address_keeps_the_owner(api, services):
    tenant, admin = await setup(services)
    token = await link_token(api, admin, role="VIEWER", requiresApproval=True)
    await take_mail(services)
    body = (await api.data(JOIN, _join_input(token, tenant.owner.email)))["joinLinkJoin"]
    assert body == {"outcome": "PENDING_APPROVAL", "userErrors": []}
    # it asks for what approving it gives, and the administrators are told so
    [request] = (await api.data(REQUESTS, as_=admin))["joinRequests"]
    assert request["role"] == "OWNER"
    told = {m["To"]: mail_text(m) for m in await take_mail(services)}
    assert "asks to join" in told[admin.email] and "as the owner." in told[admin.email]
    approved = (await api.data(APPROVE, {"id": request["id"]}, as_=admin))["joinRequestApprove"]
    assert approved["userErrors"] == []
    assert approved["staff"] == {
        "id": tenant.owner.staff_id,
        "role": "OWNER",
        "accountStatus": "ACTIVE",
    }
    assert len(await owner_rows(services, tenant.account_id)) == 1
    await as_owner_again(api, tenant, tenant.owner.token)


async def test_a_request_at_the_owners_address_after_the_owner_is_back_is_answered(
    api, services
):
    """The owner's record gets its login back (an accepted invitation) while a join request
    at its address waits: approving the request says the person is already a member, and
    the account keeps its owner."""
    tenant, admin = await setup(services)
    token = await link_token(api, admin, role="VIEWER", requiresApproval=True)
    body = (await api.data(JOIN, _join_input(token, tenant.owner.email)))["joinLinkJoin"]
    assert body == {"outcome": "PENDING_APPROVAL", "userErrors": []}
    [request] = (await api.data(REQUESTS, as_=admin))["joinRequests"]
    await take_mail(services)
    invited = await invite(api, admin, staffId=tenant.owner.staff_id, email=tenant.owner.email)
    assert invited["userErrors"] == []
    [mail] = await take_mail(services)
    accepted = (
        await api.data(ACCEPT, {"input": {"token": mail_token(mail), "password": PASSWORD}})
    )["invitationAccept"]
    assert accepted["userErrors"] == []
    approved = (await api.data(APPROVE, {"id": request["id"]}, as_=admin))["joinRequestApprove"]
    assert approved == {"staff": None, "userErrors": [{"code": "ALREADY_MEMBER"}]}
    assert await owner_rows(services, tenant.account_id) == [
        (tenant.owner.staff_pk, AccountStatus.ACTIVE)
    ]


async def test_a_sign_up_at_the_owners_address_after_a_restore_gets_the_owner_back(
    api, services, tmp_path
):
    """A real backup and restore: the account takes sign-ups, nobody has a login in the
    restored copy, and the person at the owner's address signs up into it: as the owner
    (not as a guest customer, what a sign-up otherwise makes)."""
    tenant = await make_tenant(services)
    assert (await api.data(OPEN, as_=tenant.owner))["accountUpdate"]["userErrors"] == []
    account_id, slug = await backup_and_restore(services, tenant, tmp_path, "restored")
    [(owner_pk, status)] = await owner_rows(services, account_id)
    assert status == AccountStatus.NOT_INVITED

    body = (
        await api.data(
            SIGNUP,
            {
                "input": {
                    "account": slug,
                    "email": tenant.owner.email,
                    "password": PASSWORD,
                    "firstName": "Olive",
                    "lastName": "Owner",
                }
            },
        )
    )["accountSignup"]
    assert body["userErrors"] == []
    assert await owner_rows(services, account_id) == [(owner_pk, AccountStatus.ACTIVE)]
    viewer = (await api.data(VIEWER, token=tenant.owner.token, realm=slug))["viewer"]
    assert viewer["role"] == "OWNER" and viewer["staff"]["role"] == "OWNER"
    assert json.loads((tmp_path / "backup.json").read_bytes())["account"]["self_signup"] is True


# --- (4) whatever the role and the way in, the account has exactly one owner ---

PATHS = ("invite", "invite_by_email", "join", "join_approved", "sign_up")
ROLES = (None, Role.GUEST, Role.VIEWER, Role.EDITOR, Role.ADMINISTRATOR, Role.OWNER)


async def _go(api, services, tenant, admin, path: str, role: Role | None, target: Staff | None):
    """Try to bring the login at the record's address (the owner's, or ``target``'s) in
    by ``path`` with ``role``; refusals are fine, the outcome is checked by the caller."""
    email = target.email if target is not None else tenant.owner.email
    staff_id = gid("Staff", target.id) if target is not None else tenant.owner.staff_id
    name = role.value if role is not None else None
    if path in ("invite", "invite_by_email"):
        fields = {"email": email, "role": name}
        if path == "invite":
            fields["staffId"] = staff_id
        payload = await invite(api, admin, **fields)
        if payload["userErrors"]:
            return
        [mail] = await take_mail(services)
        password = PASSWORD if target is None else NEW_PASSWORD
        await api.data(
            ACCEPT,
            {
                "input": {
                    "token": mail_token(mail),
                    "password": password,
                    "firstName": "A",
                    "lastName": "B",
                }
            },
        )
    elif path in ("join", "join_approved"):
        payload = (
            await api.data(
                LINK,
                {"input": {"role": name or "VIEWER", "requiresApproval": path == "join_approved"}},
                as_=admin,
            )
        )["joinLinkCreate"]
        if payload["userErrors"]:
            return
        token = payload["url"].rsplit("/", 1)[1]
        password = PASSWORD if target is None else NEW_PASSWORD
        await api.data(
            JOIN,
            {
                "input": {
                    "token": token,
                    "email": email,
                    "password": password,
                    "firstName": "A",
                    "lastName": "B",
                }
            },
        )
        for request in (await api.data(REQUESTS, as_=admin))["joinRequests"]:
            await api.data(APPROVE, {"id": request["id"]}, as_=admin)
    else:
        await api.data(OPEN, as_=admin)
        password = PASSWORD if target is None else NEW_PASSWORD
        await api.data(
            SIGNUP,
            {
                "input": {
                    "account": tenant.slug,
                    "email": email,
                    "password": password,
                    "firstName": "A",
                    "lastName": "B",
                }
            },
        )


@hypothesis_settings(max_examples=12)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(PATHS), st.sampled_from(ROLES), st.booleans()),
        min_size=1,
        max_size=3,
    )
)
async def test_every_way_in_leaves_exactly_one_owner(api, services, steps):
    tenant, admin = await setup(services)
    other = await make_staff(
        services, tenant, first_name="Al", last_name="Other", email=f"al{next(_slugs)}@example.com"
    )
    for path, role, at_owner in steps:
        await _go(api, services, tenant, admin, path, role, None if at_owner else other)
        await take_mail(services)
        owners = await owner_rows(services, tenant.account_id)
        assert [pk for pk, _ in owners] == [tenant.owner.staff_pk], (path, role, at_owner)


# --- a backup of the states these ways in leave the owner in restores ---


@pytest.mark.parametrize(
    "state", ["invited", "invite_expired", "accepted", "transferred"]
)
async def test_a_backup_of_the_owner_getting_a_login_back_restores(api, services, tmp_path, state):
    """Inviting the owner's record (INVITED, INVITE_EXPIRED, an OWNER invitation pending,
    expired or accepted) or joining it as a new login not yet confirmed (UNCONFIRMED) are
    states the services now leave the owner in: their backup restores (into a new account
    next to this one), and the owner stays the restored account's one owner."""
    tenant, admin = await setup(services)
    if state == "unconfirmed":
        await update_row(services, Staff, tenant.owner.staff_pk, email="olive.new@example.com")
        token = await link_token(api, admin, role="VIEWER")
        body = (
            await api.data(
                JOIN,
                {
                    "input": {
                        "token": token,
                        "email": "olive.new@example.com",
                        "password": NEW_PASSWORD,
                        "firstName": "O",
                        "lastName": "N",
                    }
                },
            )
        )["joinLinkJoin"]
        assert body["userErrors"] == []
        expected = AccountStatus.UNCONFIRMED
    else:
        payload = await invite(api, admin, email=tenant.owner.email)
        assert payload["userErrors"] == []
        expected = AccountStatus.INVITED
        if state == "invite_expired":
            await update_row(
                services, Invitation, _pk(payload["invitation"]["id"]), expires_at=_long_ago()
            )
            async with services.db.session(write=True) as session:
                from app.invitations.service import sweep_expired

                await sweep_expired(session)
                await session.commit()
            expected = AccountStatus.INVITE_EXPIRED
        elif state in ("accepted", "transferred"):
            [mail] = await take_mail(services)
            accepted = (
                await api.data(ACCEPT, {"input": {"token": mail_token(mail), "password": PASSWORD}})
            )["invitationAccept"]
            assert accepted["userErrors"] == []
            expected = AccountStatus.ACTIVE
            if state == "transferred":  # the accepted OWNER invitation is history now
                moved = await api.data(
                    TRANSFER,
                    {"id": admin.staff_id, "password": PASSWORD},
                    token=accepted["token"],
                    realm=tenant.slug,
                )
                assert moved["accountOwnershipTransfer"]["userErrors"] == []
                tenant.owner.staff_pk = admin.staff_pk
    assert await owner_rows(services, tenant.account_id) == [(tenant.owner.staff_pk, expected)]
    copy, _slug = await backup_and_restore(services, tenant, tmp_path, "copy")
    [(_, status)] = await owner_rows(services, copy)
    assert status == RESTORED_STATUS.get(expected, expected)


# --- the owner's address is the owner's to change ---

UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { staff { email } userErrors { field code message } }
}"""
IMPORT = """mutation($csv: String!) {
  staffImport(input: {csv: $csv, apply: true}) {
    applied failed errors { column code message }
  }
}"""


async def staff_email(services, staff_pk: int) -> str | None:
    async with services.db.session() as session:
        return await session.scalar(select(Staff.email).where(Staff.id == staff_pk))


@pytest.mark.parametrize("login", [False, True], ids=["no login", "with a login"])
async def test_only_the_owner_changes_the_owners_email(api, services, login):
    """Whoever chose the address of a record without a login would choose who gets it:
    a join, a sign-up or an invitation there gives back the owner's role. So an
    administrator changes neither by staffUpdate nor by an import, and an update that
    keeps the address (as a SCIM replace sends it) is no change."""
    if login:
        tenant = await make_tenant(services)
        admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    else:
        tenant, admin = await setup(services)
    body = await api.data(
        UPDATE,
        {"input": {"id": tenant.owner.staff_id, "email": "mine@attacker.example"}},
        as_=admin,
    )
    assert body["staffUpdate"]["userErrors"] == [
        {"field": ["input", "email"], "code": "FORBIDDEN",
         "message": "Only the owner changes the owner's email."}
    ]  # fmt: skip
    same = await api.data(
        UPDATE,
        {"input": {"id": tenant.owner.staff_id, "email": tenant.owner.email,
                   "externalId": "HR-OWNER"}},
        as_=admin,
    )  # fmt: skip
    assert same["staffUpdate"]["userErrors"] == []

    # an import names a record by its externalId (else by its email, which stays its own)
    text = "externalId,email\r\nHR-OWNER,mine@attacker.example\r\n"
    imported = (await api.data(IMPORT, {"csv": text}, as_=admin))["staffImport"]
    assert imported["applied"] is False and imported["failed"] == 1
    assert [(e["column"], e["code"]) for e in imported["errors"]] == [("email", "FORBIDDEN")]
    assert await staff_email(services, tenant.owner.staff_pk) == tenant.owner.email
    status = AccountStatus.ACTIVE if login else RESTORED_STATUS[AccountStatus.ACTIVE]
    assert await owner_rows(services, tenant.account_id) == [(tenant.owner.staff_pk, status)]
