"""The audit log: one entry per state-changing mutation, redacted, and the auditLog query.

Every mutation of the schema has a case below that calls it once, successfully, as an
appropriate actor; a new mutation without a case fails ``test_every_mutation_has_a_case``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from sqlalchemy import func, select

from app.access import Role
from app.access.scopes import Scope
from app.audit.models import AuditEntry
from app.graphql.ids import decode_any
from app.identity.models import AuthToken, User
from app.security.tokens import token_digest
from app.staff.models import AccountStatus, Staff
from tests.conftest import make_settings
from tests.factories import (
    PASSWORD,
    Api,
    Member,
    Tenant,
    error_codes,
    gid,
    mail_token,
    make_api_token,
    make_custom_field,
    make_member,
    make_staff,
    make_status,
    make_tenant,
    set_custom_value,
    set_staff_columns,
    set_staff_secrets,
    share_staff_with,
    take_mail,
)

NEW_PASSWORD = "another long passphrase"
SSN = "123-45-6789"
SALARY = "98765.43"
SECRET_EMAIL = "new.hire@example.com"
SECRET_PHONE = "+1 555 0199"
SECRET_STREET = "17 Hidden Lane"
SECRET_CF_VALUE = "shoe size forty-seven"


@pytest.fixture
def settings(database_url):
    # no cooldown between invitation resends or reset emails: every case runs once, at once
    return make_settings(
        database_url, invitation_resend_cooldown_seconds=0, password_reset_cooldown_seconds=0
    )


def pk(global_id: str) -> int:
    decoded = decode_any(global_id)
    assert decoded is not None, global_id
    return decoded[1]


@dataclass
class World:
    api: Api
    services: object
    tenant: Tenant
    secrets: list[str] = field(default_factory=list)

    @property
    def owner(self) -> Member:
        return self.tenant.owner

    async def member(self, role: Role = Role.VIEWER, **fields) -> Member:
        member = await make_member(self.services, self.tenant, role, **fields)
        self.secrets.append(member.email)
        return member

    async def ok(self, query: str, variables: dict | None = None, *, as_=None, **kw) -> dict:
        """Run a setup mutation and return its (only) payload, which must have no errors."""
        data = await self.api.data(query, variables, as_=as_, **kw)
        [payload] = data.values()
        assert payload["userErrors"] == [], payload
        return payload

    async def db_scalar(self, stmt):
        async with self.services.db.session() as session:
            return await session.scalar(stmt)


@dataclass
class Call:
    """One mutation call: what to send, as whom, and what its audit entry must say."""

    query: str
    variables: dict
    token: str | None = None
    realm: str | None = None
    # (target type, pk), or a function of the response data giving it
    target: tuple[str, int] | Callable[[dict], Awaitable[tuple[str, int]]] | None = None
    actor_user_id: int | None | Callable[[], Awaitable[int]] = None
    actor_staff_id: int | None = None
    impersonator_user_id: int | None = None
    account_id: int | None = None
    # strings that only the mutation's answer holds (e.g. a new token)
    response_secrets: Callable[[dict], list[str]] = lambda data: []


def as_member(member: Member, **kw) -> dict:
    return dict(
        token=member.token,
        realm=member.realm,
        actor_user_id=member.user_id,
        actor_staff_id=member.staff_pk,
        **kw,
    )


def token_of(data: dict) -> list[str]:
    [payload] = data.values()
    return [payload["token"], token_digest(payload["token"])]


async def auth_token_pk(w: World, token: str) -> int:
    return await w.db_scalar(select(AuthToken.id).where(AuthToken.digest == token_digest(token)))


async def user_pk(w: World, email: str) -> int:
    return await w.db_scalar(select(User.id).where(User.email == email))


# --- one case per mutation ---

CASES: dict[str, Callable[[World], Awaitable[Call]]] = {}


def case(name: str):
    def register(fn):
        CASES[name] = fn
        return fn

    return register


@case("login")
async def _login(w: World) -> Call:
    async def target(data):
        return "ApiToken", await auth_token_pk(w, data["login"]["token"])

    return Call(
        "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) "
        "{ token userErrors { code } } }",
        {"e": w.owner.email, "p": PASSWORD},
        target=target,
        actor_user_id=w.owner.user_id,
        response_secrets=token_of,
    )


@case("logout")
async def _logout(w: World) -> Call:
    token_pk = await auth_token_pk(w, w.owner.token)
    return Call(
        "mutation { logout { ok userErrors { code } } }",
        {},
        target=("ApiToken", token_pk),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


API_TOKEN_CREATE = """mutation($name: String!) {
  apiTokenCreate(input: {name: $name}) { token apiToken { id } userErrors { code } }
}"""


@case("apiTokenCreate")
async def _api_token_create(w: World) -> Call:
    async def target(data):
        return "ApiToken", pk(data["apiTokenCreate"]["apiToken"]["id"])

    return Call(
        API_TOKEN_CREATE,
        {"name": "ci"},
        target=target,
        account_id=w.tenant.account_id,
        response_secrets=token_of,
        **as_member(w.owner),
    )


@case("apiTokenRevoke")
async def _api_token_revoke(w: World) -> Call:
    created = await w.ok(API_TOKEN_CREATE, {"name": "old"}, as_=w.owner)
    w.secrets += [created["token"], token_digest(created["token"])]
    token_id = created["apiToken"]["id"]
    return Call(
        "mutation($id: ID!) { apiTokenRevoke(input: {id: $id}) { userErrors { code } } }",
        {"id": token_id},
        target=("ApiToken", pk(token_id)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


STAFF_ADMIN = """mutation($id: ID!) {
  %s(input: {staffId: $id}) { userErrors { code field } }
}"""


@case("staffDisable")
async def _staff_disable(w: World) -> Call:
    viewer = await w.member()
    return Call(
        STAFF_ADMIN % "staffDisable",
        {"id": viewer.staff_id},
        target=("Staff", viewer.staff_pk),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("staffEnable")
async def _staff_enable(w: World) -> Call:
    viewer = await w.member()
    await set_staff_columns(w.services, viewer.staff_pk, account_status=AccountStatus.DISABLED)
    return Call(
        STAFF_ADMIN % "staffEnable",
        {"id": viewer.staff_id},
        target=("Staff", viewer.staff_pk),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("staffDelete")
async def _staff_delete(w: World) -> Call:
    staff = await make_staff(w.services, w.tenant, email="made.in.error@example.com")
    w.secrets.append("made.in.error@example.com")
    return Call(
        STAFF_ADMIN % "staffDelete",
        {"id": gid("Staff", staff.id)},
        target=("Staff", staff.id),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("staffRoleChange")
async def _staff_role_change(w: World) -> Call:
    viewer = await w.member()
    return Call(
        "mutation($id: ID!) { staffRoleChange(input: {staffId: $id, role: EDITOR}) "
        "{ userErrors { code } } }",
        {"id": viewer.staff_id},
        target=("Staff", viewer.staff_pk),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("accountUpdate")
async def _account_update(w: World) -> Call:
    return Call(
        'mutation { accountUpdate(input: {name: "Renamed Co", everyoneCanInvite: true}) '
        "{ userErrors { code } } }",
        {},
        target=("Account", w.tenant.account_id),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("accountPlanChange")
async def _account_plan_change(w: World) -> Call:
    return Call(
        "mutation { accountPlanChange(input: {plan: TEAM}) { userErrors { code } } }",
        {},
        target=("Account", w.tenant.account_id),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("accountOwnershipTransfer")
async def _account_ownership_transfer(w: World) -> Call:
    admin = await w.member(Role.ADMINISTRATOR)
    return Call(
        "mutation($id: ID!, $pw: String!) { accountOwnershipTransfer("
        "input: {staffId: $id, password: $pw}) { userErrors { code } } }",
        {"id": admin.staff_id, "pw": PASSWORD},
        target=("Staff", admin.staff_pk),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


IMPERSONATE = """mutation($id: ID!) {
  impersonationStart(input: {staffId: $id, reason: "support ticket 42", minutes: 10}) {
    token userErrors { code }
  }
}"""


@case("impersonationStart")
async def _impersonation_start(w: World) -> Call:
    viewer = await w.member()
    return Call(
        IMPERSONATE,
        {"id": viewer.staff_id},
        target=("Staff", viewer.staff_pk),
        account_id=w.tenant.account_id,
        response_secrets=token_of,
        **as_member(w.owner),
    )


@case("impersonationStop")
async def _impersonation_stop(w: World) -> Call:
    viewer = await w.member()
    token = (await w.ok(IMPERSONATE, {"id": viewer.staff_id}, as_=w.owner))["token"]
    w.secrets += [token, token_digest(token)]
    return Call(
        "mutation { impersonationStop { ok userErrors { code } } }",
        {},
        token=token,
        realm=w.tenant.slug,
        target=("ApiToken", await auth_token_pk(w, token)),
        actor_user_id=viewer.user_id,
        actor_staff_id=viewer.staff_pk,
        impersonator_user_id=w.owner.user_id,
        account_id=w.tenant.account_id,
    )


SIGNUP = """mutation($input: SignupInput!) { signup(input: $input) { ok userErrors { code } } }"""
FOUNDER = "founder.person@example.com"


async def signed_up(w: World) -> None:
    await w.ok(
        SIGNUP,
        {
            "input": {
                "email": FOUNDER,
                "password": NEW_PASSWORD,
                "firstName": "Fay",
                "lastName": "Founder",
                "accountName": "Fay Co",
            }
        },
    )
    w.secrets.append(FOUNDER)


@case("signup")
async def _signup(w: World) -> Call:
    w.secrets += [FOUNDER, NEW_PASSWORD]

    async def target(data):
        return "Staff", await w.db_scalar(
            select(Staff.id).join(User, User.id == Staff.user_id).where(User.email == FOUNDER)
        )

    return Call(
        SIGNUP,
        {
            "input": {
                "email": FOUNDER,
                "password": NEW_PASSWORD,
                "firstName": "Fay",
                "lastName": "Founder",
                "accountName": "Fay Co",
            }
        },
        target=target,
    )


@case("emailVerify")
async def _email_verify(w: World) -> Call:
    await signed_up(w)
    [message] = await take_mail(w.services)
    token = mail_token(message)
    w.secrets += [token, token_digest(token)]
    user_id = await user_pk(w, FOUNDER)
    return Call(
        "mutation($t: String!, $p: String) { emailVerify(input: {token: $t, password: $p}) {"
        " token userErrors { code } } }",
        {"t": token, "p": NEW_PASSWORD},
        target=("User", user_id),
        actor_user_id=user_id,
        response_secrets=token_of,
    )


@case("emailVerificationResend")
async def _email_verification_resend(w: World) -> Call:
    await signed_up(w)
    await take_mail(w.services)
    return Call(
        "mutation($e: String!) { emailVerificationResend(input: {email: $e}) "
        "{ ok userErrors { code } } }",
        {"e": FOUNDER},
        target=None,  # a new emailed token: checked by type only below
    )


@case("passwordResetRequest")
async def _password_reset_request(w: World) -> Call:
    return Call(
        "mutation($e: String!) { passwordResetRequest(input: {email: $e}) "
        "{ ok userErrors { code } } }",
        {"e": w.owner.email},
        target=None,
    )


@case("passwordReset")
async def _password_reset(w: World) -> Call:
    await w.ok(
        "mutation($e: String!) { passwordResetRequest(input: {email: $e}) "
        "{ ok userErrors { code } } }",
        {"e": w.owner.email},
    )
    [message] = await take_mail(w.services)
    token = mail_token(message)
    w.secrets += [token, token_digest(token), NEW_PASSWORD]
    return Call(
        "mutation($t: String!, $pw: String!) { passwordReset(input: {token: $t, newPassword: $pw})"
        " { token userErrors { code } } }",
        {"t": token, "pw": NEW_PASSWORD},
        target=("User", w.owner.user_id),
        actor_user_id=w.owner.user_id,
        response_secrets=token_of,
    )


@case("passwordChange")
async def _password_change(w: World) -> Call:
    editor = await w.member(Role.EDITOR)
    w.secrets.append(NEW_PASSWORD)
    return Call(
        "mutation($old: String!, $new: String!) { passwordChange("
        "input: {currentPassword: $old, newPassword: $new}) { ok userErrors { code } } }",
        {"old": PASSWORD, "new": NEW_PASSWORD},
        target=("User", editor.user_id),
        account_id=w.tenant.account_id,
        **as_member(editor),
    )


@case("staffPasswordResetSend")
async def _staff_password_reset_send(w: World) -> Call:
    viewer = await w.member()
    return Call(
        "mutation($id: ID!) { staffPasswordResetSend(input: {staffId: $id}) "
        "{ ok userErrors { code } } }",
        {"id": viewer.staff_id},
        target=("Staff", viewer.staff_pk),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


PERSONAL_INPUT = {
    "email": SECRET_EMAIL,
    "phoneCell": SECRET_PHONE,
    "address": {"street": SECRET_STREET, "city": "Hiddenville"},
    "ssn": SSN,
    "salary": float(SALARY),
}


@case("staffCreate")
async def _staff_create(w: World) -> Call:
    w.secrets += [SECRET_EMAIL, SECRET_PHONE, SECRET_STREET, "Hiddenville", SSN, SALARY]

    async def target(data):
        return "Staff", pk(data["staffCreate"]["staff"]["id"])

    return Call(
        "mutation($input: StaffCreateInput!) { staffCreate(input: $input) "
        "{ staff { id } userErrors { code field } } }",
        {"input": {"firstName": "Nia", "lastName": "Newhire", **PERSONAL_INPUT}},
        target=target,
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("staffImport")
async def _staff_import(w: World) -> Call:
    w.secrets += [SECRET_EMAIL, SECRET_PHONE, SSN]

    async def target(data):
        return "Staff", pk(data["staffImport"]["rows"][0]["staffId"])

    text = f"firstName,lastName,email,phoneCell,ssn\r\nIda,Imported,{SECRET_EMAIL},{SECRET_PHONE},{SSN}\r\n"
    return Call(
        "mutation($csv: String!) { staffImport(input: {csv: $csv, apply: true}) "
        "{ rows { staffId } userErrors { code field } } }",
        {"csv": text},
        target=target,
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("staffUpdate")
async def _staff_update(w: World) -> Call:
    staff = await make_staff(w.services, w.tenant, email="before.update@example.com")
    await set_staff_secrets(w.services, staff.id, ssn="000-11-2222", salary=55555)
    w.secrets += [
        "before.update@example.com", "000-11-2222", "55555",
        SECRET_EMAIL, SECRET_PHONE, SECRET_STREET, "Hiddenville", SSN, SALARY,
    ]  # fmt: skip
    return Call(
        "mutation($input: StaffUpdateInput!) { staffUpdate(input: $input) "
        "{ userErrors { code field } } }",
        {"input": {"id": gid("Staff", staff.id), "title": "Chief", **PERSONAL_INPUT}},
        target=("Staff", staff.id),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("staffEmailConfirm")
async def _staff_email_confirm(w: World) -> Call:
    member = await w.member()
    await w.ok(
        "mutation($input: StaffUpdateInput!) { staffUpdate(input: $input) "
        "{ userErrors { code field } } }",
        {"input": {"id": member.staff_id, "email": "confirmed.new@example.com"}},
        as_=member,
    )
    [message] = await take_mail(w.services)
    token = mail_token(message)
    w.secrets += ["confirmed.new@example.com", token, token_digest(token)]
    return Call(
        "mutation($t: String!) { staffEmailConfirm(input: {token: $t}) "
        "{ email userErrors { code } } }",
        {"t": token},
        target=("Staff", member.staff_pk),  # by whoever holds the link: no actor
        account_id=w.tenant.account_id,
    )


SHARE = """mutation($id: ID!, $with: ID!) {
  %s(input: {staffId: $id, sharedWithId: $with}) { userErrors { code } }
}"""


@case("staffShare")
async def _staff_share(w: World) -> Call:
    viewer = await w.member()
    staff = await make_staff(w.services, w.tenant, restricted=True)
    return Call(
        SHARE % "staffShare",
        {"id": gid("Staff", staff.id), "with": viewer.staff_id},
        target=("Staff", staff.id),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("staffUnshare")
async def _staff_unshare(w: World) -> Call:
    viewer = await w.member()
    staff = await make_staff(w.services, w.tenant, restricted=True)
    await share_staff_with(w.services, w.tenant, staff.id, viewer.staff_pk)
    return Call(
        SHARE % "staffUnshare",
        {"id": gid("Staff", staff.id), "with": viewer.staff_id},
        target=("Staff", staff.id),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


PERMIT = """mutation($id: ID!) {
  %s(input: {staffId: $id, permit: VIEW_PERSONAL_DATA}) { userErrors { code } }
}"""


@case("staffPermitGrant")
async def _staff_permit_grant(w: World) -> Call:
    editor = await w.member(Role.EDITOR)
    return Call(
        PERMIT % "staffPermitGrant",
        {"id": editor.staff_id},
        target=("Staff", editor.staff_pk),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("staffPermitRevoke")
async def _staff_permit_revoke(w: World) -> Call:
    editor = await w.member(Role.EDITOR)
    await w.ok(PERMIT % "staffPermitGrant", {"id": editor.staff_id}, as_=w.owner)
    return Call(
        PERMIT % "staffPermitRevoke",
        {"id": editor.staff_id},
        target=("Staff", editor.staff_pk),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("staffCustomFieldsSet")
async def _staff_custom_fields_set(w: World) -> Call:
    staff = await make_staff(w.services, w.tenant)
    personal = await make_custom_field(w.services, w.tenant, "Shoe size", personal=True)
    plain = await make_custom_field(w.services, w.tenant, "Nickname")
    await set_custom_value(w.services, w.tenant, staff.id, plain.id, "old secret nickname")
    w.secrets += [SECRET_CF_VALUE, "old secret nickname", "new secret nickname"]
    return Call(
        "mutation($input: StaffCustomFieldsSetInput!) { staffCustomFieldsSet(input: $input) "
        "{ userErrors { code field } } }",
        {
            "input": {
                "staffId": gid("Staff", staff.id),
                "values": [
                    {"fieldId": gid("CustomField", personal.id), "value": SECRET_CF_VALUE},
                    {"fieldId": gid("CustomField", plain.id), "value": "new secret nickname"},
                ],
            }
        },
        target=("Staff", staff.id),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("staffStatusCreate")
async def _staff_status_create(w: World) -> Call:
    async def target(data):
        return "StaffStatus", pk(data["staffStatusCreate"]["status"]["id"])

    return Call(
        'mutation { staffStatusCreate(input: {name: "On leave"}) '
        "{ status { id } userErrors { code } } }",
        {},
        target=target,
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("staffStatusUpdate")
async def _staff_status_update(w: World) -> Call:
    status = await make_status(w.services, w.tenant, "Leave")
    return Call(
        'mutation($id: ID!) { staffStatusUpdate(input: {id: $id, name: "Away"}) '
        "{ userErrors { code } } }",
        {"id": gid("StaffStatus", status.id)},
        target=("StaffStatus", status.id),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { code field } }
}"""
INVITEE = "invitee.person@example.com"


async def invited(w: World, email: str = INVITEE) -> str:
    payload = await w.ok(INVITE, {"input": {"email": email, "role": "EDITOR"}}, as_=w.owner)
    w.secrets.append(email)
    return payload["invitation"]["id"]


@case("invitationCreate")
async def _invitation_create(w: World) -> Call:
    w.secrets += [INVITEE, "a private note for the invitee", "An offer for the invitee"]

    async def target(data):
        return "Invitation", pk(data["invitationCreate"]["invitation"]["id"])

    return Call(
        INVITE,
        {
            "input": {
                "email": INVITEE,
                "role": "EDITOR",
                "message": "a private note for the invitee",
                "subject": "An offer for the invitee",
            }
        },
        target=target,
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("invitationBulkCreate")
async def _invitation_bulk_create(w: World) -> Call:
    emails = ["bulk.one@example.com", "bulk.two@example.com"]
    w.secrets += emails
    return Call(
        "mutation($input: InvitationBulkCreateInput!) { invitationBulkCreate(input: $input) "
        "{ createdCount userErrors { code } } }",
        {"input": {"rows": [{"email": e} for e in emails]}},
        target=None,
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


INVITATION_ID = """mutation($id: ID!) { %s(input: {id: $id}) { userErrors { code } } }"""


@case("invitationResend")
async def _invitation_resend(w: World) -> Call:
    invitation_id = await invited(w)
    return Call(
        INVITATION_ID % "invitationResend",
        {"id": invitation_id},
        target=("Invitation", pk(invitation_id)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("invitationRevoke")
async def _invitation_revoke(w: World) -> Call:
    invitation_id = await invited(w)
    return Call(
        INVITATION_ID % "invitationRevoke",
        {"id": invitation_id},
        target=("Invitation", pk(invitation_id)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("invitationAccept")
async def _invitation_accept(w: World) -> Call:
    invitation_id = await invited(w)
    [message] = await take_mail(w.services)
    token = mail_token(message)
    w.secrets += [token, token_digest(token), NEW_PASSWORD]
    return Call(
        "mutation($t: String!, $pw: String!) { invitationAccept(input: "
        '{token: $t, password: $pw, firstName: "Ivy", lastName: "Invitee"}) '
        "{ token userErrors { code } } }",
        {"t": token, "pw": NEW_PASSWORD},
        target=("Invitation", pk(invitation_id)),
        actor_user_id=lambda: user_pk(w, INVITEE),  # the new login, signed in by accepting
        account_id=w.tenant.account_id,
        response_secrets=token_of,
    )


JOIN_LINK_CREATE = """mutation($approval: Boolean!) {
  joinLinkCreate(input: {requiresApproval: $approval}) { joinLink { id } url userErrors { code } }
}"""


async def join_link(w: World, approval: bool = False) -> tuple[str, str]:
    payload = await w.ok(JOIN_LINK_CREATE, {"approval": approval}, as_=w.owner)
    token = payload["url"].rsplit("/", 1)[1]
    w.secrets += [token, token_digest(token)]
    return payload["joinLink"]["id"], token


@case("joinLinkCreate")
async def _join_link_create(w: World) -> Call:
    async def target(data):
        return "JoinLink", pk(data["joinLinkCreate"]["joinLink"]["id"])

    def url_token(data):
        token = data["joinLinkCreate"]["url"].rsplit("/", 1)[1]
        return [token, token_digest(token)]

    return Call(
        JOIN_LINK_CREATE,
        {"approval": False},
        target=target,
        account_id=w.tenant.account_id,
        response_secrets=url_token,
        **as_member(w.owner),
    )


@case("joinLinkRotate")
async def _join_link_rotate(w: World) -> Call:
    link_id, _ = await join_link(w)
    return Call(
        "mutation($id: ID!) { joinLinkRotate(input: {id: $id}) { url userErrors { code } } }",
        {"id": link_id},
        target=("JoinLink", pk(link_id)),
        account_id=w.tenant.account_id,
        response_secrets=lambda data: [
            data["joinLinkRotate"]["url"].rsplit("/", 1)[1],
            token_digest(data["joinLinkRotate"]["url"].rsplit("/", 1)[1]),
        ],
        **as_member(w.owner),
    )


@case("joinLinkDisable")
async def _join_link_disable(w: World) -> Call:
    link_id, _ = await join_link(w)
    return Call(
        INVITATION_ID % "joinLinkDisable",
        {"id": link_id},
        target=("JoinLink", pk(link_id)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


JOIN = """mutation($t: String!, $e: String!, $pw: String!) {
  joinLinkJoin(input: {token: $t, email: $e, password: $pw, firstName: "Jo", lastName: "Joiner"})
  { outcome userErrors { code } }
}"""
JOINER = "jo.joiner@example.com"


@case("joinLinkJoin")
async def _join_link_join(w: World) -> Call:
    _, token = await join_link(w)
    w.secrets += [JOINER, NEW_PASSWORD]

    async def target(data):
        return "Staff", await w.db_scalar(
            select(Staff.id).join(User, User.id == Staff.user_id).where(User.email == JOINER)
        )

    return Call(
        JOIN, {"t": token, "e": JOINER, "pw": NEW_PASSWORD}, target=target,
        account_id=w.tenant.account_id,
    )  # fmt: skip


SIGNUP_INTO = """mutation($a: String!, $e: String!, $pw: String!) {
  accountSignup(input: {account: $a, email: $e, password: $pw, firstName: "Cy",
                        lastName: "Customer"}) { accountName userErrors { code } }
}"""
SIGNER = "cy.customer@example.com"


@case("accountSignup")
async def _account_signup(w: World) -> Call:
    await w.ok(
        "mutation { accountUpdate(input: {selfSignup: true}) { userErrors { code } } }",
        as_=w.owner,
    )
    w.secrets += [SIGNER, NEW_PASSWORD]

    async def target(data):
        return "Staff", await w.db_scalar(
            select(Staff.id).join(User, User.id == Staff.user_id).where(User.email == SIGNER)
        )

    return Call(
        SIGNUP_INTO, {"a": w.tenant.slug, "e": SIGNER, "pw": NEW_PASSWORD}, target=target,
        account_id=w.tenant.account_id,
    )  # fmt: skip


async def join_request(w: World) -> int:
    _, token = await join_link(w, approval=True)
    await w.ok(JOIN, {"t": token, "e": JOINER, "pw": NEW_PASSWORD})
    w.secrets += [JOINER, NEW_PASSWORD]
    data = await w.api.data("{ joinRequests { id } }", as_=w.owner)
    [request] = data["joinRequests"]
    return request["id"]


@case("joinRequestApprove")
async def _join_request_approve(w: World) -> Call:
    request_id = await join_request(w)
    return Call(
        "mutation($id: ID!) { joinRequestApprove(input: {id: $id}) { userErrors { code } } }",
        {"id": request_id},
        target=("JoinRequest", pk(request_id)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("joinRequestReject")
async def _join_request_reject(w: World) -> Call:
    request_id = await join_request(w)
    return Call(
        "mutation($id: ID!) { joinRequestReject(input: {id: $id}) { userErrors { code } } }",
        {"id": request_id},
        target=("JoinRequest", pk(request_id)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("staffRegister")
async def _staff_register(w: World) -> Call:
    w.secrets += [SECRET_EMAIL, SECRET_PHONE, SECRET_STREET, "Hiddenville", SSN, SALARY]

    async def target(data):
        return "Staff", pk(data["staffRegister"]["staff"]["id"])

    return Call(
        "mutation($input: StaffRegisterInput!) { staffRegister(input: $input) "
        "{ staff { id } userErrors { code field } } }",
        {"input": {"firstName": "Rae", "lastName": "Registered", **PERSONAL_INPUT}},
        target=target,
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("customFieldCreate")
async def _custom_field_create(w: World) -> Call:
    async def target(data):
        return "CustomField", pk(data["customFieldCreate"]["customField"]["id"])

    return Call(
        'mutation { customFieldCreate(input: {name: "Badge", type: TEXT}) '
        "{ customField { id } userErrors { code } } }",
        {},
        target=target,
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("customFieldUpdate")
async def _custom_field_update(w: World) -> Call:
    cf = await make_custom_field(w.services, w.tenant, "Badge")
    return Call(
        'mutation($id: ID!) { customFieldUpdate(input: {id: $id, name: "Badge no"}) '
        "{ userErrors { code } } }",
        {"id": gid("CustomField", cf.id)},
        target=("CustomField", cf.id),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("customFieldArchive")
async def _custom_field_archive(w: World) -> Call:
    cf = await make_custom_field(w.services, w.tenant, "Badge")
    return Call(
        INVITATION_ID % "customFieldArchive",
        {"id": gid("CustomField", cf.id)},
        target=("CustomField", cf.id),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


PROJECT_CREATE = """mutation($name: String!) {
  projectCreate(input: {name: $name}) { project { id } userErrors { code } }
}"""


async def project(w: World, name: str = "Apollo") -> str:
    return (await w.ok(PROJECT_CREATE, {"name": name}, as_=w.owner))["project"]["id"]


@case("projectCreate")
async def _project_create(w: World) -> Call:
    async def target(data):
        return "Project", pk(data["projectCreate"]["project"]["id"])

    return Call(
        PROJECT_CREATE,
        {"name": "Apollo"},
        target=target,
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


MEMBER = """mutation($p: ID!, $s: ID!) {
  %s(input: {projectId: $p, staffId: $s}) { userErrors { code } }
}"""


@case("projectMemberAdd")
async def _project_member_add(w: World) -> Call:
    project_id = await project(w)
    viewer = await w.member()
    return Call(
        MEMBER % "projectMemberAdd",
        {"p": project_id, "s": viewer.staff_id},
        target=("Project", pk(project_id)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("projectMemberRemove")
async def _project_member_remove(w: World) -> Call:
    project_id = await project(w)
    viewer = await w.member()
    await w.ok(MEMBER % "projectMemberAdd", {"p": project_id, "s": viewer.staff_id}, as_=w.owner)
    return Call(
        MEMBER % "projectMemberRemove",
        {"p": project_id, "s": viewer.staff_id},
        target=("Project", pk(project_id)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("projectUpdate")
async def _project_update(w: World) -> Call:
    project_id = await project(w)
    return Call(
        "mutation($p: ID!) { projectUpdate(input: {projectId: $p, name: \"Artemis\", "
        'externalId: "okta-7"}) { userErrors { code } } }',
        {"p": project_id},
        target=("Project", pk(project_id)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("projectDelete")
async def _project_delete(w: World) -> Call:
    project_id = await project(w)
    return Call(
        "mutation($p: ID!) { projectDelete(input: {projectId: $p}) "
        "{ deletedProjectId userErrors { code } } }",
        {"p": project_id},
        target=("Project", pk(project_id)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("projectMembersSet")
async def _project_members_set(w: World) -> Call:
    project_id = await project(w)
    viewer = await w.member()
    return Call(
        "mutation($p: ID!, $s: [ID!]!) { projectMembersSet(input: {projectId: $p, "
        "staffIds: $s}) { userErrors { code } } }",
        {"p": project_id, "s": [viewer.staff_id]},
        target=("Project", pk(project_id)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("projectTeamRoleCreate")
async def _project_team_role_create(w: World) -> Call:
    async def target(data):
        return "ProjectTeamRole", pk(data["projectTeamRoleCreate"]["teamRole"]["id"])

    return Call(
        'mutation { projectTeamRoleCreate(input: {name: "Lead"}) '
        "{ teamRole { id } userErrors { code } } }",
        {},
        target=target,
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


WEBHOOK_CREATE = """mutation($url: String!) {
  webhookEndpointCreate(input: {url: $url, eventTypes: ["staff.created"]}) {
    webhookEndpoint { id } secret userErrors { code }
  }
}"""
WEBHOOK_URL = "https://93.184.215.14/hooks/roster"  # a public address: no DNS in the test
WEBHOOK_ID = """mutation($id: ID!) { %s(input: {id: $id}) { userErrors { code } } }"""


async def webhook_endpoint(w: World) -> str:
    return (await w.ok(WEBHOOK_CREATE, {"url": WEBHOOK_URL}, as_=w.owner))["webhookEndpoint"][
        "id"
    ]


@case("webhookEndpointCreate")
async def _webhook_endpoint_create(w: World) -> Call:
    async def target(data):
        return "WebhookEndpoint", pk(data["webhookEndpointCreate"]["webhookEndpoint"]["id"])

    return Call(
        WEBHOOK_CREATE,
        {"url": WEBHOOK_URL},
        target=target,
        account_id=w.tenant.account_id,
        response_secrets=lambda data: [data["webhookEndpointCreate"]["secret"]],
        **as_member(w.owner),
    )


@case("webhookEndpointUpdate")
async def _webhook_endpoint_update(w: World) -> Call:
    endpoint = await webhook_endpoint(w)
    return Call(
        'mutation($id: ID!) { webhookEndpointUpdate(input: {id: $id, description: "CRM"}) '
        "{ userErrors { code } } }",
        {"id": endpoint},
        target=("WebhookEndpoint", pk(endpoint)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("webhookEndpointDelete")
async def _webhook_endpoint_delete(w: World) -> Call:
    endpoint = await webhook_endpoint(w)
    return Call(
        WEBHOOK_ID % "webhookEndpointDelete",
        {"id": endpoint},
        target=("WebhookEndpoint", pk(endpoint)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("webhookEndpointSecretRotate")
async def _webhook_endpoint_secret_rotate(w: World) -> Call:
    endpoint = await webhook_endpoint(w)
    return Call(
        'mutation($id: ID!) { webhookEndpointSecretRotate(input: {id: $id}) '
        "{ secret userErrors { code } } }",
        {"id": endpoint},
        target=("WebhookEndpoint", pk(endpoint)),
        account_id=w.tenant.account_id,
        response_secrets=lambda data: [data["webhookEndpointSecretRotate"]["secret"]],
        **as_member(w.owner),
    )


@case("webhookEndpointPing")
async def _webhook_endpoint_ping(w: World) -> Call:
    endpoint = await webhook_endpoint(w)
    return Call(
        WEBHOOK_ID % "webhookEndpointPing",
        {"id": endpoint},
        target=("WebhookEndpoint", pk(endpoint)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


@case("webhookDeliveryReplay")
async def _webhook_delivery_replay(w: World) -> Call:
    endpoint = await webhook_endpoint(w)
    ping = await w.ok(
        "mutation($id: ID!) { webhookEndpointPing(input: {id: $id}) "
        "{ delivery { id } userErrors { code } } }",
        {"id": endpoint},
        as_=w.owner,
    )
    delivery = ping["delivery"]["id"]
    return Call(
        WEBHOOK_ID % "webhookDeliveryReplay",
        {"id": delivery},
        target=("WebhookDelivery", pk(delivery)),
        account_id=w.tenant.account_id,
        **as_member(w.owner),
    )


# --- helpers reading the log straight from the database ---


async def last_entry_id(services) -> int:
    async with services.db.session() as session:
        return await session.scalar(select(func.coalesce(func.max(AuditEntry.id), 0)))


async def entries_after(services, entry_id: int) -> list[AuditEntry]:
    async with services.db.session() as session:
        return list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.id > entry_id).order_by(AuditEntry.id)
            )
        )


INTROSPECT = "{ __schema { mutationType { fields { name } } } }"


async def test_every_mutation_has_a_case(api):
    data = await api.data(INTROSPECT)
    names = {f["name"] for f in data["__schema"]["mutationType"]["fields"]}
    assert names - CASES.keys() == set(), "mutations without an audit case"
    assert CASES.keys() - names == set(), "cases for mutations that do not exist"


@pytest.mark.parametrize("name", sorted(CASES))
async def test_one_entry_per_mutation(api, services, name):
    w = World(api, services, await make_tenant(services))
    w.secrets += [w.owner.email, PASSWORD]
    call = await CASES[name](w)
    await take_mail(services)
    before = await last_entry_id(services)

    response = await api.raw(call.query, call.variables, token=call.token, realm=call.realm)
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    [payload] = body["data"].values()
    assert payload["userErrors"] == [], payload

    [entry] = await entries_after(services, before)
    assert entry.action == name
    assert entry.request_id == response.headers["x-request-id"]
    actor_user_id = call.actor_user_id
    if callable(actor_user_id):
        actor_user_id = await actor_user_id()
    assert entry.actor_user_id == actor_user_id
    assert entry.actor_staff_id == call.actor_staff_id
    assert entry.impersonator_user_id == call.impersonator_user_id
    if call.account_id is not None:
        assert entry.account_id == call.account_id
    target = call.target
    if callable(target):
        target = await target(body["data"])
    if target is not None:
        assert (entry.target_type, entry.target_id) == target
    else:
        assert entry.target_type is not None and entry.target_id is not None
    assert entry.diff, "the entry says what changed"

    logged = json.dumps(entry.diff, default=str).lower()
    for secret in [*w.secrets, *call.response_secrets(body["data"])]:
        assert str(secret).lower() not in logged, f"{secret!r} in the audit diff of {name}"


# --- failures write nothing ---

STAFF_CREATE = """mutation($input: StaffCreateInput!) {
  staffCreate(input: $input) { staff { id } userErrors { code field } }
}"""
STAFF_COUNT = "{ staff(first: 100) { edges { node { lastName } } } }"


async def test_a_mutation_with_user_errors_writes_no_entry(api, services):
    tenant = await make_tenant(services)
    await api.data(PROJECT_CREATE, {"name": "Apollo"}, as_=tenant.owner)
    before = await last_entry_id(services)

    duplicate = await api.data(PROJECT_CREATE, {"name": " APOLLO "}, as_=tenant.owner)
    assert duplicate["projectCreate"]["userErrors"][0]["code"] == "TAKEN"
    nameless = await api.data(STAFF_CREATE, {"input": {"firstName": "No"}}, as_=tenant.owner)
    assert nameless["staffCreate"]["userErrors"]

    assert await entries_after(services, before) == []


async def test_a_mutation_failing_after_it_wrote_rows_writes_no_entry(api, services):
    """staffCreate inserts the record, then refuses a project of another account: the
    record and its audit entry both go."""
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    foreign = (await api.data(PROJECT_CREATE, {"name": "Theirs"}, as_=other.owner))[
        "projectCreate"
    ]["project"]["id"]
    before = await last_entry_id(services)

    body = await api.data(
        STAFF_CREATE,
        {"input": {"firstName": "Gone", "lastName": "Again", "projectIds": [foreign]}},
        as_=tenant.owner,
    )
    assert [e["code"] for e in body["staffCreate"]["userErrors"]] == ["NOT_FOUND"]
    assert await entries_after(services, before) == []
    names = await api.data(STAFF_COUNT, as_=tenant.owner)
    assert "Again" not in {e["node"]["lastName"] for e in names["staff"]["edges"]}


async def test_a_mutation_refused_with_a_top_level_error_writes_no_entry(api, services):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    editor = await make_member(services, tenant, Role.EDITOR)
    before = await last_entry_id(services)

    refused = await api(PROJECT_CREATE, {"name": "Nope"}, as_=viewer)
    assert error_codes(refused) == ["FORBIDDEN"]
    refused = await api(STAFF_ADMIN % "staffDisable", {"id": viewer.staff_id}, as_=editor)
    assert error_codes(refused) == ["FORBIDDEN"]
    anonymous = await api(STAFF_CREATE, {"input": {"firstName": "A", "lastName": "B"}})
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]

    assert await entries_after(services, before) == []


async def test_a_mutation_that_changes_nothing_writes_no_entry(api, services):
    """passwordResetRequest answers the same for an unknown email, and writes nothing."""
    await make_tenant(services)
    before = await last_entry_id(services)
    body = await api.data(
        'mutation { passwordResetRequest(input: {email: "nobody@example.com"}) '
        "{ ok userErrors { code } } }"
    )
    assert body["passwordResetRequest"]["ok"] is True
    assert await entries_after(services, before) == []


async def test_each_mutation_of_a_request_gets_its_own_entry(api, services):
    tenant = await make_tenant(services)
    before = await last_entry_id(services)
    response = await api.raw(
        """mutation {
          a: staffStatusCreate(input: {name: "Leave"}) { status { id } userErrors { code } }
          b: projectCreate(input: {name: "Apollo"}) { project { id } userErrors { code } }
          c: projectCreate(input: {name: "apollo"}) { project { id } userErrors { code } }
        }""",
        token=tenant.owner.token,
        realm=tenant.slug,
    )
    data = response.json()["data"]
    assert data["c"]["userErrors"][0]["code"] == "TAKEN"
    entries = await entries_after(services, before)
    assert [(e.action, e.target_type, e.target_id) for e in entries] == [
        ("staffStatusCreate", "StaffStatus", pk(data["a"]["status"]["id"])),
        ("projectCreate", "Project", pk(data["b"]["project"]["id"])),
    ]
    assert {e.request_id for e in entries} == {response.headers["x-request-id"]}


# --- the auditLog query ---

AUDIT_LOG = """query($first: Int!, $after: String, $filter: AuditLogFilter) {
  auditLog(first: $first, after: $after, filter: $filter) {
    edges { cursor node {
      id action actorStaffId actorUserId impersonatorUserId targetType targetId
      diff requestId clientAddress createdAt
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""
STATUS_CREATE = """mutation($name: String!) {
  staffStatusCreate(input: {name: $name}) { status { id } userErrors { code } }
}"""
STATUS_RENAME = """mutation($id: ID!, $name: String!) {
  staffStatusUpdate(input: {id: $id, name: $name}) { status { id } userErrors { code } }
}"""


async def audit_log(api, member, first=100, after=None, **filter) -> dict:
    data = await api.data(
        AUDIT_LOG, {"first": first, "after": after, "filter": filter or None}, as_=member
    )
    return data["auditLog"]


def nodes(log: dict) -> list[dict]:
    return [e["node"] for e in log["edges"]]


async def status(api, member, name: str) -> str:
    data = await api.data(STATUS_CREATE, {"name": name}, as_=member)
    assert data["staffStatusCreate"]["userErrors"] == []
    return data["staffStatusCreate"]["status"]["id"]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, False),
        (Role.EDITOR, False),
        (Role.ADMINISTRATOR, True),
        (Role.OWNER, True),
    ],
)
async def test_audit_log_is_for_administrators(api, services, role, allowed):
    tenant = await make_tenant(services)
    await status(api, tenant.owner, "Leave")
    member = tenant.owner if role == Role.OWNER else await make_member(services, tenant, role)
    body = await api(AUDIT_LOG, {"first": 10}, as_=member)
    if allowed:
        assert not body.get("errors"), body
        assert [n["action"] for n in nodes(body["data"]["auditLog"])] == ["staffStatusCreate"]
    else:
        assert error_codes(body) == ["FORBIDDEN"]
        assert body["data"] is None or body["data"].get("auditLog") is None


async def test_audit_log_of_a_viewer_with_the_personal_data_grant_is_still_forbidden(api, services):
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    await api.data(PERMIT % "staffPermitGrant", {"id": editor.staff_id}, as_=tenant.owner)
    assert error_codes(await api(AUDIT_LOG, {"first": 10}, as_=editor)) == ["FORBIDDEN"]


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [
        ([Scope.ADMIN], False),
        ([Scope.ADMIN, Scope.PERSONAL_DATA], False),
        ([Scope.STAFF_READ, Scope.PERSONAL_DATA], False),
        ([Scope.ADMIN, Scope.STAFF_READ], True),
    ],
    ids=["admin", "admin+personal_data", "staff:read+personal_data", "admin+staff:read"],
)
async def test_an_api_key_reads_the_log_only_with_admin_and_staff_read(
    api, services, scopes, allowed
):
    """The diffs hold every record's changes, a restricted record's details too; a key that
    reads the directory like a guest (no staff:read: a restricted record is not found) is
    refused the log, as it is the backup, rather than shown them there."""
    tenant = await make_tenant(services)
    record = await make_staff(services, tenant, first_name="Rae", last_name="Hidden")
    await set_staff_columns(services, record.id, restricted=True)
    edit = """mutation($id: ID!) { staffUpdate(input: {id: $id, rate1: 777.5}) {
      userErrors { code } } }"""
    assert (await api.data(edit, {"id": gid("Staff", record.id)}, as_=tenant.owner))[
        "staffUpdate"]["userErrors"] == []
    key = await make_api_token(services, tenant, tenant.owner, scopes=scopes)
    body = await api(AUDIT_LOG, {"first": 10}, token=key)
    if allowed:
        assert not body.get("errors"), body
        assert "777.5" in json.dumps(body["data"])
    else:
        assert error_codes(body) == ["FORBIDDEN"]
        assert "777.5" not in json.dumps(body)


async def test_audit_log_is_newest_first_and_paginates(api, services):
    tenant = await make_tenant(services)
    ids = [await status(api, tenant.owner, f"Status {i}") for i in range(5)]
    seen, after = [], None
    pages = 0
    while True:
        log = await audit_log(api, tenant.owner, first=2, after=after)
        pages += 1
        seen += nodes(log)
        if not log["pageInfo"]["hasNextPage"]:
            break
        after = log["pageInfo"]["endCursor"]
        assert after == log["edges"][-1]["cursor"]
    assert pages == 3
    assert [n["targetId"] for n in seen] == list(reversed(ids))
    assert len({n["id"] for n in seen}) == 5
    stamps = [datetime.fromisoformat(n["createdAt"]) for n in seen]
    assert stamps == sorted(stamps, reverse=True)

    assert nodes(await audit_log(api, tenant.owner, first=0)) == []
    too_many = await api(AUDIT_LOG, {"first": 101}, as_=tenant.owner)
    assert too_many.get("errors") or too_many["data"] is None


async def test_audit_log_entry_fields(api, services):
    tenant = await make_tenant(services)
    response = await api.raw(
        STATUS_CREATE, {"name": "Leave"}, token=tenant.owner.token, realm=tenant.slug
    )
    status_id = response.json()["data"]["staffStatusCreate"]["status"]["id"]
    [entry] = nodes(await audit_log(api, tenant.owner))
    assert entry["action"] == "staffStatusCreate"
    assert entry["actorStaffId"] == tenant.owner.staff_id
    assert entry["actorUserId"] == gid("User", tenant.owner.user_id)
    assert entry["impersonatorUserId"] is None
    assert entry["targetType"] == "StaffStatus"
    assert entry["targetId"] == status_id
    assert entry["requestId"] == response.headers["x-request-id"]
    assert entry["clientAddress"]
    [change] = [c for c in entry["diff"] if c["table"] == "staff_statuses"]
    assert change["op"] == "insert"
    assert change["fields"]["name"] == [None, "Leave"]


async def test_audit_log_filters(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    leave = await status(api, tenant.owner, "Leave")
    await status(api, admin, "Away")
    await api.data(STATUS_RENAME, {"id": leave, "name": "On leave"}, as_=admin)
    entries = nodes(await audit_log(api, tenant.owner))
    assert [e["action"] for e in entries] == [
        "staffStatusUpdate",
        "staffStatusCreate",
        "staffStatusCreate",
    ]

    by_admin = nodes(await audit_log(api, tenant.owner, actorStaffId=admin.staff_id))
    assert [e["id"] for e in by_admin] == [entries[0]["id"], entries[1]["id"]]
    by_owner = nodes(await audit_log(api, admin, actorStaffId=tenant.owner.staff_id))
    assert [e["id"] for e in by_owner] == [entries[2]["id"]]

    updates = nodes(await audit_log(api, tenant.owner, action="staffStatusUpdate"))
    assert [e["id"] for e in updates] == [entries[0]["id"]]
    assert nodes(await audit_log(api, tenant.owner, action="staffDelete")) == []

    about_leave = nodes(await audit_log(api, tenant.owner, targetId=leave))
    assert [e["id"] for e in about_leave] == [entries[0]["id"], entries[2]["id"]]

    middle = entries[1]["createdAt"]
    since = nodes(await audit_log(api, tenant.owner, since=middle))
    assert {entries[0]["id"], entries[1]["id"]} <= {e["id"] for e in since}
    until = nodes(await audit_log(api, tenant.owner, until=middle))
    assert entries[1]["id"] not in {e["id"] for e in until}
    assert {e["id"] for e in since} | {e["id"] for e in until} == {e["id"] for e in entries}
    assert {e["id"] for e in since} & {e["id"] for e in until} == set()
    future = nodes(await audit_log(api, tenant.owner, since="2999-01-01T00:00:00+00:00"))
    assert future == []
    past = nodes(await audit_log(api, tenant.owner, until="2000-01-01T00:00:00+00:00"))
    assert past == []


async def test_audit_log_never_shows_another_accounts_entries(api, services):
    mine = await make_tenant(services)
    theirs = await make_tenant(services)
    their_status = await status(api, theirs.owner, "Theirs")
    await api.data(STATUS_RENAME, {"id": their_status, "name": "Still theirs"}, as_=theirs.owner)
    await status(api, mine.owner, "Mine")

    entries = nodes(await audit_log(api, mine.owner))
    assert [e["action"] for e in entries] == ["staffStatusCreate"]
    assert nodes(await audit_log(api, mine.owner, targetId=their_status)) == []
    assert nodes(await audit_log(api, mine.owner, actorStaffId=theirs.owner.staff_id)) == []
    assert len(nodes(await audit_log(api, theirs.owner))) == 2


async def test_actions_taken_while_impersonating_record_both_people(api, services):
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    started = await api.data(IMPERSONATE, {"id": editor.staff_id}, as_=tenant.owner)
    token = started["impersonationStart"]["token"]
    created = await api.data(
        STAFF_CREATE,
        {"input": {"firstName": "Via", "lastName": "Impersonation"}},
        token=token,
        realm=tenant.slug,
    )
    staff_id = created["staffCreate"]["staff"]["id"]
    [entry] = nodes(await audit_log(api, tenant.owner, action="staffCreate"))
    assert entry["targetId"] == staff_id
    assert entry["actorStaffId"] == editor.staff_id
    assert entry["actorUserId"] == gid("User", editor.user_id)
    assert entry["impersonatorUserId"] == gid("User", tenant.owner.user_id)
    [start] = nodes(await audit_log(api, tenant.owner, action="impersonationStart"))
    assert start["actorStaffId"] == tenant.owner.staff_id
    assert start["targetId"] == editor.staff_id


async def test_inviting_an_existing_record_targets_the_new_invitation(api, services):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant, email="later@example.com")
    before = await last_entry_id(services)
    data = await api.data(
        INVITE,
        {"input": {"email": "later@example.com", "staffId": gid("Staff", staff.id)}},
        as_=tenant.owner,
    )
    invitation_id = data["invitationCreate"]["invitation"]["id"]
    [entry] = await entries_after(services, before)
    assert (entry.target_type, entry.target_id) == ("Invitation", pk(invitation_id))
