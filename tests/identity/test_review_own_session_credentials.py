"""Review: managing one's own credentials (API keys, password, email, verification mails,
impersonations) needs one's own signed-in session.

A reviewer had an API key mint a child key with a longer lifetime that outlived the
parent's revocation, and a staff:read key change its owner's password (ending every
session). An API key, whatever its scopes, and an impersonation token are now refused with
the FORBIDDEN error impersonation tokens already got; the user's own session goes through.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.access import Role
from app.access.require import WHILE_IMPERSONATING, WITH_AN_API_KEY
from app.access.scopes import Scope
from app.graphql.mutations.base import Audited
from app.graphql.schema import build_schema
from app.identity.models import AuthToken, TokenKind, User
from app.staff.models import Staff
from tests.factories import (
    PASSWORD,
    error_codes,
    get_row,
    make_api_token,
    make_member,
    make_tenant,
    take_mail,
    update_row,
)

# Every root mutation that manages the user's own login, sessions or keys.
OWN_SESSION_ONLY = {
    "apiTokenCreate",
    "apiTokenRevoke",
    "passwordChange",
    "emailVerificationResend",
    "impersonationStart",
}

CREATE = """mutation { apiTokenCreate(input: {name: "child", expiresInDays: 365}) {
  token apiToken { id } userErrors { code } } }"""
REVOKE = """mutation($id: ID!) { apiTokenRevoke(input: {id: $id}) {
  apiToken { revokedAt } userErrors { code } } }"""
PASSWORD_CHANGE = """mutation($p: String!) {
  passwordChange(input: {currentPassword: $p, newPassword: "another-password-2024"}) {
    ok userErrors { code } } }"""
RESEND = """mutation($e: String!) { emailVerificationResend(input: {email: $e}) {
  ok userErrors { code } } }"""
IMPERSONATE = """mutation($id: ID!) {
  impersonationStart(input: {staffId: $id, reason: "support", minutes: 5}) {
    token userErrors { code } } }"""
EMAIL = """mutation($id: ID!, $e: String!) { staffUpdate(input: {id: $id, email: $e}) {
  staff { id } userErrors { field code message } } }"""
SSN = "query($id: ID!) { node(id: $id) { ... on Staff { ssn } } }"

# A key with one scope each, and with all of them.
SCOPE_SETS = [[s] for s in Scope] + [list(Scope)]


def test_the_mutations_that_need_ones_own_session_are_exactly_these():
    """An audit of the Mutation type: each of these is marked, nothing else is."""
    fields = build_schema()._schema.type_map["Mutation"].fields
    marked = {
        name
        for name, field in fields.items()
        if any(
            isinstance(e, Audited) and e.own_session
            for e in field.extensions["strawberry-definition"].extensions
        )
    }
    assert marked == OWN_SESSION_ONLY


class World:
    pass


async def world(api, services) -> World:
    w = World()
    w.tenant = await make_tenant(services)
    w.owner = w.tenant.owner
    w.victim = await make_member(services, w.tenant, Role.VIEWER)
    # a key of the owner's to revoke
    created = await api.data(
        """mutation { apiTokenCreate(input: {name: "other", scopes: [STAFF_READ]}) {
             apiToken { id } } }""",
        as_=w.owner,
    )
    w.other_key_id = created["apiTokenCreate"]["apiToken"]["id"]
    await update_row(services, User, w.owner.user_id, email_verified_at=None)
    await take_mail(services)
    return w


# name -> (query, variables, is it done? (from the payload and the world))
CASES = {
    "apiTokenCreate": (CREATE, lambda w: {}),
    "apiTokenRevoke": (REVOKE, lambda w: {"id": w.other_key_id}),
    "passwordChange": (PASSWORD_CHANGE, lambda w: {"p": PASSWORD}),
    "emailVerificationResend": (RESEND, lambda w: {"e": w.owner.email}),
    "impersonationStart": (IMPERSONATE, lambda w: {"id": w.victim.staff_id}),
}


async def state(services, w) -> dict:
    """What the credential mutations would change."""
    async with services.db.session() as session:
        kinds = dict(
            (
                await session.execute(
                    select(AuthToken.kind, func.count())
                    .where(AuthToken.revoked_at.is_(None))
                    .group_by(AuthToken.kind)
                )
            ).all()
        )
        user = await session.get(User, w.owner.user_id)
    return {"tokens": kinds, "password": user.password_hash, "mail": len(await take_mail(services))}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize(
    "scopes", [*SCOPE_SETS, None], ids=[*("+".join(s) for s in SCOPE_SETS), "impersonation"]
)
async def test_refused_to_an_api_key_and_an_impersonation_allowed_to_the_session(
    api, services, name, scopes
):
    assert name in OWN_SESSION_ONLY
    query, variables = CASES[name]
    w = await world(api, services)
    if scopes is None:  # an administrator impersonating the owner is impossible: the owner
        admin = await make_member(services, w.tenant, Role.ADMINISTRATOR)  # impersonates
        started = await api.data(IMPERSONATE, {"id": admin.staff_id}, as_=w.owner)
        token, message = started["impersonationStart"]["token"], WHILE_IMPERSONATING
        assert token
    else:
        token = await make_api_token(services, w.tenant, w.owner, scopes=[Scope(s) for s in scopes])
        message = WITH_AN_API_KEY
    before = await state(services, w)

    body = await api(query, variables(w), token=token, realm=w.owner.realm)
    assert error_codes(body) == ["FORBIDDEN"], body
    assert [e["message"] for e in body["errors"]] == [message]
    assert body["data"] is None
    assert await state(services, w) == before

    # the same request with the owner's own session goes through
    data = await api.data(query, variables(w), as_=w.owner)
    payload = data[name]
    assert payload["userErrors"] == [], payload
    assert await state(services, w) != before


@pytest.mark.parametrize("scopes", SCOPE_SETS, ids=["+".join(s) for s in SCOPE_SETS])
async def test_an_api_key_never_asks_to_change_its_owners_email(api, services, scopes):
    tenant = await make_tenant(services)
    owner = tenant.owner
    token = await make_api_token(services, tenant, owner, scopes=[Scope(s) for s in scopes])
    await take_mail(services)
    body = await api(EMAIL, {"id": owner.staff_id, "e": "mine@example.org"}, token=token,
                     realm=owner.realm)
    codes = error_codes(body) or [e["code"] for e in body["data"]["staffUpdate"]["userErrors"]]
    assert codes == ["FORBIDDEN"], body
    assert await take_mail(services) == []
    assert (await get_row(services, Staff, owner.staff_pk)).email == owner.email
    # one's own session asks for it: a link goes to the new address
    data = await api.data(EMAIL, {"id": owner.staff_id, "e": "mine@example.org"}, as_=owner)
    assert data["staffUpdate"]["userErrors"] == []
    assert [m["To"] for m in await take_mail(services)] == ["mine@example.org"]


async def test_review_a_key_cannot_mint_a_child_that_outlives_it(api, services):
    """The reviewer's chain: key creates a child key; revoke the parent; the child reads
    SSNs. The child is never made."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    victim = await make_member(services, tenant, Role.VIEWER)
    parent = await api.data(
        """mutation { apiTokenCreate(input: {name: "leaked parent",
             scopes: [STAFF_READ, PERSONAL_DATA], expiresInDays: 1}) {
             token apiToken { id } userErrors { code } } }""",
        as_=admin,
    )
    parent_token = parent["apiTokenCreate"]["token"]
    parent_id = parent["apiTokenCreate"]["apiToken"]["id"]

    child = await api(CREATE, token=parent_token, realm=admin.realm)
    assert error_codes(child) == ["FORBIDDEN"], child
    assert child["data"] is None

    revoked = await api.data(REVOKE, {"id": parent_id}, as_=admin)
    assert revoked["apiTokenRevoke"]["userErrors"] == []
    body = await api(SSN, {"id": victim.staff_id}, token=parent_token, realm=admin.realm)
    assert error_codes(body) == ["UNAUTHENTICATED"]
    async with services.db.session() as session:
        live_keys = await session.scalar(
            select(func.count())
            .select_from(AuthToken)
            .where(AuthToken.kind == TokenKind.API, AuthToken.revoked_at.is_(None))
        )
    assert live_keys == 0
