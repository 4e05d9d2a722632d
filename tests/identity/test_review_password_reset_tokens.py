"""A password reset is account recovery: it ends every session and every API token of the
user, and says so; passwordChange ends API tokens when asked. Both end the impersonations
the user started and every emailed link issued before."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.access import Role
from app.errors import DomainError, ErrorCode
from app.identity import user_tokens
from app.identity.models import UserTokenPurpose
from app.staff.models import Staff
from tests.factories import (
    PASSWORD,
    error_codes,
    get_row,
    mail_text,
    mail_token,
    make_member,
    make_tenant,
    take_mail,
)

TOKEN_CREATE = """mutation($name: String!) {
  apiTokenCreate(input: {name: $name}) { token userErrors { code } }
}"""
VIEWER = "{ viewer { role } }"
REQUEST = """mutation($e: String!) {
  passwordResetRequest(input: {email: $e}) { ok userErrors { code } }
}"""
RESET = """mutation($t: String!, $p: String!) {
  passwordReset(input: {token: $t, newPassword: $p}) { token userErrors { code } }
}"""
CHANGE = """mutation($c: String!, $n: String!, $r: Boolean) {
  passwordChange(input: {currentPassword: $c, newPassword: $n, revokeApiTokens: $r}) {
    ok userErrors { code }
  }
}"""
NEW = "a brand new passphrase"


async def works(api, token, realm=None) -> bool:
    body = await api(VIEWER, token=token, realm=realm)
    assert error_codes(body) in ([], ["UNAUTHENTICATED"]), body
    return not body.get("errors")


async def api_token(api, member) -> str:
    data = await api.data(TOKEN_CREATE, {"name": "sync"}, as_=member)
    return data["apiTokenCreate"]["token"]


async def test_a_reset_ends_api_tokens_and_sessions_and_says_so(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    key = await api_token(api, member)
    assert await works(api, key)
    await take_mail(services)
    await api.data(REQUEST, {"e": member.email})
    [message] = await take_mail(services)
    assert "ends every API token" in mail_text(message).replace("\n", " ")
    data = await api.data(RESET, {"t": mail_token(message), "p": NEW})
    assert data["passwordReset"]["userErrors"] == []
    assert not await works(api, key)
    assert not await works(api, member.token, member.realm)
    assert await works(api, data["passwordReset"]["token"], member.realm)
    [notice] = [m for m in await take_mail(services) if "changed" in m["Subject"]]
    assert "every session and API token was ended" in mail_text(notice).replace("\n", " ")


async def test_password_change_keeps_api_tokens_unless_asked(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    key = await api_token(api, member)
    data = await api.data(CHANGE, {"c": PASSWORD, "n": NEW}, as_=member)
    assert data["passwordChange"]["ok"] is True
    assert await works(api, key)
    assert await works(api, member.token, member.realm)  # the session that asked stays
    data = await api.data(CHANGE, {"c": NEW, "n": PASSWORD, "r": True}, as_=member)
    assert data["passwordChange"]["ok"] is True
    assert not await works(api, key)
    assert await works(api, member.token, member.realm)


START = """mutation($id: ID!) {
  impersonationStart(input: {staffId: $id, reason: "Ticket 4711", minutes: 60}) {
    token userErrors { code }
  }
}"""
EMAIL_UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { emailConfirmationPending userErrors { code } }
}"""
EMAIL_CONFIRM = """mutation($t: String!) {
  staffEmailConfirm(input: {token: $t}) { email userErrors { code } }
}"""


async def new_password(api, services, member, how: str) -> str | None:
    """Set ``member``'s password to NEW by a reset link or by passwordChange; the session
    a reset hands out (None after a change: the member's own session stays)."""
    if how == "change":
        data = await api.data(CHANGE, {"c": PASSWORD, "n": NEW}, as_=member)
        assert data["passwordChange"]["ok"] is True
        return None
    await api.data(REQUEST, {"e": member.email})
    [message] = [m for m in await take_mail(services) if "/password/reset" in mail_text(m)]
    data = await api.data(RESET, {"t": mail_token(message), "p": NEW})
    assert data["passwordReset"]["userErrors"] == []
    return data["passwordReset"]["token"]


@pytest.mark.parametrize("how", ["reset", "change"])
async def test_review_new_password_ends_the_impersonations_the_user_started(api, services, how):
    """An impersonation is its administrator's access: when their credentials change (a
    stolen session's owner recovering the account), it ends with their sessions."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    target = await make_member(services, tenant, Role.VIEWER)
    started = await api.data(START, {"id": target.staff_id}, as_=admin)
    impersonation = started["impersonationStart"]["token"]
    assert await works(api, impersonation)
    fresh = await new_password(api, services, admin, how)
    assert not await works(api, impersonation)
    # the administrator goes on (with the reset's session, or the one that changed it) and
    # may start again; the target's own session is untouched
    session = fresh or admin.token
    assert await works(api, session, admin.realm)
    assert await works(api, target.token, target.realm)
    again = await api.data(START, {"id": target.staff_id}, token=session, realm=admin.realm)
    assert await works(api, again["impersonationStart"]["token"])


@pytest.mark.parametrize("how", ["reset", "change"])
async def test_review_new_password_ends_a_pending_email_change(api, services, how):
    """An email change asked for before the password changed (say, by whoever held the
    session) is not confirmed after it."""
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.EDITOR)
    asked = await api.data(
        EMAIL_UPDATE, {"input": {"id": member.staff_id, "email": "intruder@evil.example"}},
        as_=member,
    )
    assert asked["staffUpdate"] == {"emailConfirmationPending": True, "userErrors": []}
    [change] = await take_mail(services)
    assert change["To"] == "intruder@evil.example"
    await new_password(api, services, member, how)
    confirmed = (await api.data(EMAIL_CONFIRM, {"t": mail_token(change)}))["staffEmailConfirm"]
    assert confirmed["email"] is None
    assert [e["code"] for e in confirmed["userErrors"]] == ["TOKEN_USED"]
    assert (await get_row(services, Staff, member.staff_pk)).email == member.email


@pytest.mark.parametrize("how", ["reset", "change"])
async def test_review_new_password_ends_every_earlier_emailed_link(api, services, how):
    """Every kind of emailed link of the user (reset, welcome, verification, email change)
    issued before the password changed is dead after it."""
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    links = {}
    async with services.db.session(write=True) as session:
        for purpose in UserTokenPurpose:
            links[purpose], row = await user_tokens.issue(
                session, member.user_id, purpose, timedelta(hours=1)
            )
            row.created_at -= timedelta(minutes=5)  # past the cooldown of a reset request
        await session.commit()
    await new_password(api, services, member, how)
    async with services.db.session() as session:
        for purpose, token in links.items():
            with pytest.raises(DomainError) as refused:
                await user_tokens.peek(session, services.token_gate(None), token, {purpose})
            assert refused.value.code == ErrorCode.TOKEN_USED, purpose
