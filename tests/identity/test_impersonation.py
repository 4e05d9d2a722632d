"""Logging in as a member: who may, what the token can reach, what is banned while using it,
how it is audited, and how it ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.access import Role
from app.db.base import utcnow
from app.identity.models import AuthToken, TokenKind
from app.security.tokens import token_digest
from app.staff.models import Staff
from tests.factories import (
    DENIED,
    OK,
    PASSWORD,
    REFUSED,
    Member,
    add_membership,
    error_codes,
    get_row,
    gid,
    log_in_again,
    mail_token,
    make_member,
    make_tenant,
    outcome,
    set_staff_columns,
    set_token_columns,
    take_mail,
)

START = """mutation($id: ID!, $reason: String!, $minutes: Int!) {
  impersonationStart(input: {staffId: $id, reason: $reason, minutes: $minutes}) {
    token staff { id } userErrors { field code message }
  }
}"""
STOP = "mutation { impersonationStop { ok userErrors { code } } }"
VIEWER = """{ viewer {
  user { id email } impersonator { id email } role
  account { slug } accounts { slug } staff { id }
} }"""
AUDIT = """{ auditLog(first: 5) { edges { node {
  action actorUserId actorStaffId impersonatorUserId targetType targetId
} } } }"""
UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { staff { id title email } userErrors { field code message } }
}"""

TARGETS = ("VIEWER", "EDITOR", "ADMINISTRATOR", "OWNER", "SELF")
# fmt: off
MAY_IMPERSONATE = {
    #                   VIEWER   EDITOR   ADMIN    OWNER    SELF
    "VIEWER":          (DENIED,  DENIED,  DENIED,  DENIED,  DENIED),
    "EDITOR":          (DENIED,  DENIED,  DENIED,  DENIED,  DENIED),
    "ADMINISTRATOR":   (OK,      OK,      REFUSED, REFUSED, REFUSED),
    "OWNER":           (OK,      OK,      OK,      REFUSED, REFUSED),  # OWNER column = self
}
# fmt: on


async def start(api, actor: Member, target: Member, reason="Ticket 4711", minutes=30) -> dict:
    data = await api.data(
        START, {"id": target.staff_id, "reason": reason, "minutes": minutes}, as_=actor
    )
    return data["impersonationStart"]


async def start_token(api, actor: Member, target: Member, **kw) -> str:
    result = await start(api, actor, target, **kw)
    assert result["userErrors"] == [], result
    assert result["token"]
    return result["token"]


async def token_row(services, token: str) -> AuthToken:
    async with services.db.session() as session:
        return await session.scalar(
            select(AuthToken).where(AuthToken.digest == token_digest(token))
        )


async def impersonation_tokens(services) -> int:
    async with services.db.session() as session:
        return await session.scalar(
            select(func.count())
            .select_from(AuthToken)
            .where(AuthToken.kind == TokenKind.IMPERSONATION)
        )


# --- who may start it --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor_key", "target_key", "expected"),
    [
        pytest.param(actor, target, expected, id=f"{actor}-as-{target}")
        for actor, row in MAY_IMPERSONATE.items()
        for target, expected in zip(TARGETS, row, strict=True)
    ],
)
async def test_start_matrix(api, services, actor_key, target_key, expected):
    tenant = await make_tenant(services)
    actor = (
        tenant.owner
        if actor_key == "OWNER"
        else await make_member(services, tenant, Role(actor_key))
    )
    if target_key == "SELF":
        target = actor
    elif target_key == "OWNER":
        target = tenant.owner
    else:
        target = await make_member(services, tenant, Role(target_key))
    body = await api(START, {"id": target.staff_id, "reason": "Support", "minutes": 10}, as_=actor)
    assert outcome(body, "impersonationStart") == expected
    if expected == OK:
        result = body["data"]["impersonationStart"]
        assert result["staff"]["id"] == target.staff_id
        viewer = (await api.data(VIEWER, token=result["token"]))["viewer"]
        assert viewer["user"]["id"] == gid("User", target.user_id)
        assert viewer["impersonator"]["id"] == gid("User", actor.user_id)
    else:
        assert await impersonation_tokens(services) == 0


@pytest.mark.parametrize(
    ("reason", "minutes", "field", "code"),
    [
        ("", 30, "reason", "REQUIRED"),
        ("   ", 30, "reason", "REQUIRED"),
        ("x" * 501, 30, "reason", "TOO_LONG"),
        ("Support", 0, "minutes", "INVALID"),
        ("Support", 61, "minutes", "INVALID"),
        ("Support", -5, "minutes", "INVALID"),
    ],
)
async def test_start_needs_a_reason_and_1_to_60_minutes(
    api, services, reason, minutes, field, code
):
    tenant = await make_tenant(services)
    target = await make_member(services, tenant, Role.VIEWER)
    result = await start(api, tenant.owner, target, reason=reason, minutes=minutes)
    assert result["token"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [(["input", field], code)]
    assert await impersonation_tokens(services) == 0


@pytest.mark.parametrize("minutes", [1, 60])
async def test_token_lasts_the_minutes_asked_for(api, services, minutes):
    tenant = await make_tenant(services)
    target = await make_member(services, tenant, Role.VIEWER)
    token = await start_token(api, tenant.owner, target, minutes=minutes)
    row = await token_row(services, token)
    assert abs(row.expires_at - (utcnow() + timedelta(minutes=minutes))) < timedelta(minutes=1)
    assert row.reason == "Ticket 4711"


async def test_start_needs_an_active_member_with_a_login(api, services):
    tenant = await make_tenant(services)
    target = await make_member(services, tenant, Role.VIEWER)
    await api.data(
        "mutation($id: ID!) { staffDisable(input: {staffId: $id}) { userErrors { code } } }",
        {"id": target.staff_id},
        as_=tenant.owner,
    )
    result = await start(api, tenant.owner, target)
    assert result["token"] is None
    assert [e["code"] for e in result["userErrors"]] == ["INVALID_STATE"]


# --- what the token reaches --------------------------------------------------------------------


async def test_token_acts_as_the_target_in_that_account_only(api, services):
    a = await make_tenant(services, "Alpha")
    b = await make_tenant(services, "Beta")
    target = await make_member(services, a, Role.EDITOR)
    await add_membership(services, b, target.user_id, Role.ADMINISTRATOR)
    admin = await make_member(services, a, Role.ADMINISTRATOR)
    token = await start_token(api, admin, target)

    for realm in (None, a.slug):
        viewer = (await api.data(VIEWER, token=token, realm=realm))["viewer"]
        assert viewer["user"] == {"id": gid("User", target.user_id), "email": target.email}
        assert viewer["impersonator"] == {"id": gid("User", admin.user_id), "email": admin.email}
        assert viewer["role"] == "EDITOR"
        assert viewer["staff"]["id"] == target.staff_id
        assert viewer["account"]["slug"] == a.slug
        assert [x["slug"] for x in viewer["accounts"]] == [a.slug]
    # the target's other account is out of reach, exactly like an unknown realm
    for realm in (b.slug, str(b.account_id), "no-such-realm"):
        body = await api("{ staff { totalCount } }", token=token, realm=realm)
        assert error_codes(body) == ["UNAUTHENTICATED"], realm
        assert body["data"] is None
    # the target's own session shows nobody impersonating, and both accounts
    own = (await api.data(VIEWER, token=target.token))["viewer"]
    assert own["impersonator"] is None
    assert {x["slug"] for x in own["accounts"]} == {a.slug, b.slug}


async def test_token_stops_when_the_target_is_disabled(api, services):
    tenant = await make_tenant(services)
    target = await make_member(services, tenant, Role.VIEWER)
    token = await start_token(api, tenant.owner, target)
    assert (await api.data(VIEWER, token=token))["viewer"]["role"] == "VIEWER"
    await set_staff_columns(services, target.staff_pk, account_status="DISABLED")
    assert error_codes(await api(VIEWER, token=token)) == ["UNAUTHENTICATED"]


# --- banned while impersonating ----------------------------------------------------------------

NEW_PASSWORD = "another good long password"
# name -> (query, variables(world), owner-only?)
BANNED = {
    "passwordChange": (
        """mutation($current: String!, $new: String!) {
          passwordChange(input: {currentPassword: $current, newPassword: $new}) {
            ok userErrors { code } } }""",
        lambda w: {"current": PASSWORD, "new": NEW_PASSWORD},
        False,
    ),
    "apiTokenCreate": (
        """mutation { apiTokenCreate(input: {name: "ci"}) { token userErrors { code } } }""",
        lambda w: {},
        False,
    ),
    "impersonationStart": (
        START,
        lambda w: {"id": w.victim.staff_id, "reason": "again", "minutes": 5},
        False,
    ),
    "staffDelete": (
        """mutation($id: ID!) { staffDelete(input: {staffId: $id}) {
             deletedStaffId userErrors { code } } }""",
        lambda w: {"id": w.victim.staff_id},
        False,
    ),
    "staffRoleChange": (
        """mutation($id: ID!) { staffRoleChange(input: {staffId: $id, role: EDITOR}) {
             staff { role } userErrors { code } } }""",
        lambda w: {"id": w.victim.staff_id},
        False,
    ),
    "accountOwnershipTransfer": (
        """mutation($id: ID!, $password: String!) {
          accountOwnershipTransfer(input: {staffId: $id, password: $password}) {
            owner { id } userErrors { code } } }""",
        lambda w: {"id": w.heir.staff_id, "password": PASSWORD},
        True,
    ),
    "accountPlanChange": (
        """mutation { accountPlanChange(input: {plan: TEAM}) {
             account { plan } userErrors { code } } }""",
        lambda w: {},
        True,
    ),
}


class World:
    pass


async def state(api, services, w) -> dict:
    """What the banned mutations would change, as the (real) owner sees it."""
    victim = await get_row(services, Staff, w.victim.staff_pk)
    account = await api.data(
        "{ account { plan seats { limit } } staff(filter: {roles: [OWNER]}) { nodes { id } } }",
        as_=w.tenant.owner,
    )
    async with services.db.session() as session:
        tokens = (
            await session.execute(select(AuthToken.kind, func.count()).group_by(AuthToken.kind))
        ).all()
    login = await api.data(
        """mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) {
             token } }""",
        {"e": w.acting.email, "p": PASSWORD},
    )
    return {
        "victim": victim and (victim.role, victim.account_status),
        "account": account,
        # the login above adds one session each time; compare the other kinds
        "tokens": {str(k): n for k, n in tokens if k != TokenKind.SESSION},
        "password unchanged": login["login"]["token"] is not None,
    }


@pytest.mark.parametrize("name", list(BANNED))
async def test_banned_while_impersonating(api, services, name):
    query, variables, owner_only = BANNED[name]
    w = World()
    w.tenant = tenant = await make_tenant(services)
    w.victim = await make_member(services, tenant, Role.VIEWER)
    w.heir = await make_member(services, tenant, Role.ADMINISTRATOR)
    # an administrator, who may do all but the owner-only ones with their own session
    w.acting = await make_member(services, tenant, Role.ADMINISTRATOR)
    token = await start_token(api, tenant.owner, w.acting)
    before = await state(api, services, w)

    body = await api(query, variables(w), token=token)
    assert error_codes(body) == ["FORBIDDEN"], body
    assert body["data"] is None
    assert await state(api, services, w) == before

    if not owner_only:
        # the very same request with the person's own session goes through
        allowed = await api.data(query, variables(w), as_=w.acting)
        assert next(iter(allowed.values()))["userErrors"] == []


async def test_no_impersonation_token_ever_acts_as_the_owner(api, services):
    """Nobody outranks the owner; a token started before ownership moved stops working."""
    tenant = await make_tenant(services)
    heir = await make_member(services, tenant, Role.ADMINISTRATOR)
    token = await start_token(api, tenant.owner, heir)
    assert (await api.data(VIEWER, token=token))["viewer"]["role"] == "ADMINISTRATOR"
    moved = await api.data(
        """mutation($id: ID!, $password: String!) {
          accountOwnershipTransfer(input: {staffId: $id, password: $password}) {
            userErrors { code } } }""",
        {"id": heir.staff_id, "password": PASSWORD},
        as_=tenant.owner,
    )
    assert moved["accountOwnershipTransfer"]["userErrors"] == []
    for query in (VIEWER, BANNED["accountPlanChange"][0]):
        body = await api(query, token=token)
        assert error_codes(body) == ["UNAUTHENTICATED"]
    assert (await api.data(VIEWER, as_=heir))["viewer"]["role"] == "OWNER"
    seats = (await api.data("{ account { seats { limit } } }", as_=heir))["account"]["seats"]
    assert seats["limit"] == 50


async def test_email_cannot_change_while_impersonating(api, services):
    tenant = await make_tenant(services)
    target = await make_member(services, tenant, Role.EDITOR, title="Clerk")
    token = await start_token(api, tenant.owner, target)
    for changes in ({"email": "new@example.com"}, {"email": "new@example.com", "title": "Boss"}):
        data = await api.data(UPDATE, {"input": {"id": target.staff_id, **changes}}, token=token)
        result = data["staffUpdate"]
        assert result["staff"] is None
        assert [(e["field"], e["code"]) for e in result["userErrors"]] == [
            (["input", "email"], "FORBIDDEN")
        ]
    row = await get_row(services, Staff, target.staff_pk)
    assert (row.email, row.title) == (target.email, "Clerk")
    # the person themselves may
    own = await api.data(
        UPDATE, {"input": {"id": target.staff_id, "email": "new@example.com"}}, as_=target
    )
    assert own["staffUpdate"]["userErrors"] == []


# --- ordinary actions work and are audited with both people -----------------------------------


async def test_ordinary_actions_work_and_are_audited_with_both_people(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    target = await make_member(services, tenant, Role.EDITOR, title="Clerk")
    colleague = await make_member(services, tenant, Role.VIEWER)
    token = await start_token(api, admin, target)

    mine = await api.data(UPDATE, {"input": {"id": target.staff_id, "title": "Lead"}}, token=token)
    assert mine["staffUpdate"]["userErrors"] == []
    assert mine["staffUpdate"]["staff"]["title"] == "Lead"
    theirs = await api.data(
        UPDATE, {"input": {"id": colleague.staff_id, "title": "Helper"}}, token=token
    )
    assert theirs["staffUpdate"]["userErrors"] == []
    # what the target may not do stays refused (the token has the target's rights, no more)
    body = await api(
        "mutation($id: ID!) { staffDisable(input: {staffId: $id}) { userErrors { code } } }",
        {"id": colleague.staff_id},
        token=token,
    )
    assert error_codes(body) == ["FORBIDDEN"]
    # and the same change made by the target's own session names nobody else
    await api.data(UPDATE, {"input": {"id": target.staff_id, "title": "Lead 2"}}, as_=target)

    log = await api.data(AUDIT, as_=tenant.owner)
    entries = [e["node"] for e in log["auditLog"]["edges"]]
    own, by_proxy_colleague, by_proxy_self, started = entries[:4]
    for entry, staff_id in (
        (by_proxy_colleague, colleague.staff_id),
        (by_proxy_self, target.staff_id),
    ):
        assert entry["action"] == "staffUpdate"
        assert entry["targetId"] == staff_id
        assert entry["actorUserId"] == gid("User", target.user_id)
        assert entry["actorStaffId"] == target.staff_id
        assert entry["impersonatorUserId"] == gid("User", admin.user_id)
    assert own["actorUserId"] == gid("User", target.user_id)
    assert own["impersonatorUserId"] is None
    assert started["actorUserId"] == gid("User", admin.user_id)
    assert started["action"] == "impersonationStart"


# --- how it ends ---------------------------------------------------------------------------------


async def test_stop_ends_the_impersonation(api, services):
    tenant = await make_tenant(services)
    target = await make_member(services, tenant, Role.VIEWER)
    token = await start_token(api, tenant.owner, target)
    stopped = await api.data(STOP, token=token)
    assert stopped["impersonationStop"] == {"ok": True, "userErrors": []}
    for query in (VIEWER, "{ staff { totalCount } }", STOP):
        assert error_codes(await api(query, token=token)) == ["UNAUTHENTICATED"]
    # neither the administrator's nor the target's own sessions are touched
    assert (await api.data(VIEWER, as_=tenant.owner))["viewer"]["role"] == "OWNER"
    assert (await api.data(VIEWER, as_=target))["viewer"]["impersonator"] is None


async def test_logout_ends_the_impersonations_the_administrator_started(api, services):
    """An administrator who logs out of their own session leaves no impersonation of theirs
    alive (impersonation tokens do not record their session: all of them end)."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    target = await make_member(services, tenant, Role.VIEWER)
    token = await start_token(api, admin, target)
    others = await start_token(api, tenant.owner, target)
    assert (await api.data(VIEWER, token=token))["viewer"]["role"] == "VIEWER"
    assert (await api.data("mutation { logout { ok } }", as_=admin))["logout"]["ok"]
    for query in (VIEWER, "{ staff { totalCount } }", STOP):
        assert error_codes(await api(query, token=token)) == ["UNAUTHENTICATED"]
    # the member's own session and another administrator's impersonation are untouched
    assert (await api.data(VIEWER, as_=target))["viewer"]["impersonator"] is None
    viewer = (await api.data(VIEWER, token=others))["viewer"]
    assert viewer["impersonator"]["id"] == gid("User", tenant.owner.user_id)


async def test_logout_through_an_impersonation_ends_only_that_token(api, services):
    """The impersonated member's own impersonations and the administrator's session stay."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    viewer = await make_member(services, tenant, Role.VIEWER)
    admins_own = await start_token(api, admin, viewer)
    as_admin = await start_token(api, tenant.owner, admin)
    assert (await api.data("mutation { logout { ok } }", token=as_admin))["logout"]["ok"]
    assert error_codes(await api(VIEWER, token=as_admin)) == ["UNAUTHENTICATED"]
    assert (await api.data(VIEWER, token=admins_own))["viewer"]["role"] == "VIEWER"
    assert (await api.data(VIEWER, as_=tenant.owner))["viewer"]["role"] == "OWNER"


async def test_stop_without_impersonating_is_invalid_state(api, services):
    tenant = await make_tenant(services)
    data = await api.data(STOP, as_=tenant.owner)
    assert data["impersonationStop"]["ok"] is False
    assert [e["code"] for e in data["impersonationStop"]["userErrors"]] == ["INVALID_STATE"]
    assert (await api.data(VIEWER, as_=tenant.owner))["viewer"]["role"] == "OWNER"


async def test_expired_impersonation_token_is_refused(api, services):
    tenant = await make_tenant(services)
    target = await make_member(services, tenant, Role.VIEWER)
    token = await start_token(api, tenant.owner, target, minutes=60)
    assert (await api.data(VIEWER, token=token))["viewer"]["user"]["email"] == target.email
    await set_token_columns(services, token, expires_at=utcnow() - timedelta(seconds=1))
    body = await api(VIEWER, token=token)
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None


@pytest.mark.parametrize("what", ["disabled", "deleted", "demoted", "target promoted"])
async def test_token_stops_when_the_impersonator_may_no_longer_impersonate(api, services, what):
    """The token is the administrator's access: it ends with their right to use it."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    target = await make_member(services, tenant, Role.VIEWER)
    token = await start_token(api, admin, target)
    assert (await api.data(VIEWER, token=token))["viewer"]["role"] == "VIEWER"
    mutation, variables = {
        "disabled": ("staffDisable(input: {staffId: $id})", {"id": admin.staff_id}),
        "deleted": ("staffDelete(input: {staffId: $id})", {"id": admin.staff_id}),
        "demoted": ("staffRoleChange(input: {staffId: $id, role: EDITOR})", {"id": admin.staff_id}),
        "target promoted": (
            "staffRoleChange(input: {staffId: $id, role: ADMINISTRATOR})",
            {"id": target.staff_id},
        ),
    }[what]
    done = await api.data(
        f"mutation($id: ID!) {{ {mutation} {{ userErrors {{ code }} }} }}",
        variables,
        as_=tenant.owner,
    )
    assert next(iter(done.values()))["userErrors"] == []
    body = await api(VIEWER, token=token)
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None
    # the target's own session is not affected
    assert (await api.data(VIEWER, as_=target))["viewer"]["impersonator"] is None


async def test_review_token_from_before_the_impersonator_was_disabled_stays_dead(api, services):
    """The impersonator's record is held to the rule of their own tokens: one issued before
    they were last disabled does not act again, even if its revocation was missed (e.g. a
    start that raced the disable) and they are active again."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    target = await make_member(services, tenant, Role.VIEWER)
    token = await start_token(api, admin, target)
    assert (await api.data(VIEWER, token=token))["viewer"]["role"] == "VIEWER"
    # disabled and enabled again, as staffDisable records it, but the token left unrevoked
    await set_staff_columns(services, admin.staff_pk, tokens_valid_from=utcnow())
    assert (await token_row(services, token)).revoked_at is None
    body = await api(VIEWER, token=token)
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None
    # signed in again, the administrator may start a new one, which works
    admin = await log_in_again(services, admin)
    assert (await api.data(VIEWER, token=await start_token(api, admin, target)))["viewer"]


async def test_token_cannot_join_another_account_for_the_target(api, services):
    """Acting as someone in one account does not let the administrator sign them up elsewhere:
    a join link used with the impersonation token does not count the target as signed in."""
    a = await make_tenant(services, "Alpha")
    c = await make_tenant(services, "Gamma")
    target = await make_member(services, a, Role.VIEWER)
    created = await api.data(
        "mutation { joinLinkCreate(input: {role: VIEWER}) { url userErrors { code } } }",
        as_=c.owner,
    )
    link_token = created["joinLinkCreate"]["url"].rsplit("/", 1)[-1].split("token=")[-1]
    token = await start_token(api, a.owner, target)
    body = await api(
        """mutation($t: String!, $e: String!) {
          joinLinkJoin(input: {token: $t, email: $e, firstName: "T", lastName: "Arget"}) {
            outcome userErrors { code } } }""",
        {"t": link_token, "e": target.email},
        token=token,
    )
    codes = error_codes(body) or [e["code"] for e in body["data"]["joinLinkJoin"]["userErrors"]]
    assert codes in (["FORBIDDEN"], ["LOGIN_REQUIRED"]), body
    accounts = (await api.data(VIEWER, as_=target))["viewer"]["accounts"]
    assert [x["slug"] for x in accounts] == [a.slug]
    # the target's own session may join (so the link itself was fine)
    own = await api.data(
        """mutation($t: String!, $e: String!) {
          joinLinkJoin(input: {token: $t, email: $e, firstName: "T", lastName: "Arget"}) {
            outcome userErrors { code } } }""",
        {"t": link_token, "e": target.email},
        token=target.token,
    )
    assert own["joinLinkJoin"]["userErrors"] == []


async def test_token_cannot_accept_an_invitation_for_the_target(api, services):
    """Accepting would add the target to another account and hand out a full session of
    theirs: with an impersonation token it is refused, and nothing is handed out."""
    a = await make_tenant(services, "Alpha")
    c = await make_tenant(services, "Gamma")
    target = await make_member(services, a, Role.VIEWER)
    invited = await api.data(
        "mutation($e: String!) { invitationCreate(input: {email: $e}) { userErrors { code } } }",
        {"e": target.email},
        as_=c.owner,
    )
    assert invited["invitationCreate"]["userErrors"] == []
    [message] = await take_mail(services)
    invitation_token = mail_token(message)
    accept = """mutation($t: String!) { invitationAccept(input: {token: $t}) {
      token userErrors { code } } }"""
    token = await start_token(api, a.owner, target)
    body = await api(accept, {"t": invitation_token}, token=token)
    payload = (body.get("data") or {}).get("invitationAccept") or {}
    assert payload.get("token") is None
    codes = error_codes(body) or [e["code"] for e in payload["userErrors"]]
    assert codes in (["FORBIDDEN"], ["LOGIN_REQUIRED"]), body
    accounts = (await api.data(VIEWER, as_=target))["viewer"]["accounts"]
    assert [x["slug"] for x in accounts] == [a.slug]
    # with the target's own session the same link works
    own = await api.data(accept, {"t": invitation_token}, token=target.token)
    assert own["invitationAccept"]["userErrors"] == []
