"""Authentication over HTTP: headers, realms, token lifetimes, API tokens, password hashes."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text

from app.access import Role
from app.db.base import utcnow
from app.identity.models import AuthToken, User
from app.security.passwords import PasswordService
from app.staff.models import AccountStatus, Staff
from tests.factories import (
    PASSWORD,
    add_membership,
    error_codes,
    make_member,
    make_tenant,
    make_user,
    update_row,
)

VIEWER = "{ viewer { user { email } role account { slug realmId } } }"
ROLE = "{ viewer { role } }"
ACCOUNT = "{ account { slug } }"
LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token userErrors { code } }
}"""
TOKEN_CREATE = """mutation($name: String!, $days: Int) {
  apiTokenCreate(input: {name: $name, expiresInDays: $days}) {
    token apiToken { id name expiresAt revokedAt } userErrors { field message code }
  }
}"""
TOKEN_REVOKE = """mutation($id: ID!) {
  apiTokenRevoke(input: {id: $id}) { apiToken { id revokedAt } userErrors { code } }
}"""
TOKENS = "{ viewer { apiTokens { id name } } }"


async def _token_row(services, token: str) -> AuthToken:
    digest = hashlib.sha256(token.encode()).hexdigest()
    async with services.db.session() as session:
        row = await session.scalar(select(AuthToken).where(AuthToken.digest == digest))
    assert row is not None
    return row


async def _password_hash(services, user_id: int) -> str:
    async with services.db.session() as session:
        return await session.scalar(select(User.password_hash).where(User.id == user_id))


# --- headers and realms -------------------------------------------------------------------


async def test_bearer_and_x_auth_token_headers_both_work(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.EDITOR)
    for headers in (
        {"Authorization": f"Bearer {member.token}"},
        {"authorization": f"bearer {member.token}"},
        {"X-Auth-Token": member.token},
    ):
        response = await api.raw(VIEWER, headers=headers)
        body = response.json()
        assert "errors" not in body, (headers, body)
        assert body["data"]["viewer"]["role"] == "EDITOR"
        assert body["data"]["viewer"]["user"]["email"] == member.email
    missing = await api.raw(VIEWER)
    assert error_codes(missing.json()) == ["UNAUTHENTICATED"]


async def test_realm_accepts_slug_and_numeric_id(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.EDITOR)
    for realm in (tenant.slug, tenant.slug.upper(), str(tenant.account_id), None):
        body = await api(VIEWER, token=member.token, realm=realm)
        assert "errors" not in body, (realm, body)
        assert body["data"]["viewer"]["role"] == "EDITOR"
        assert body["data"]["viewer"]["account"] == {
            "slug": tenant.slug,
            "realmId": tenant.account_id,
        }


async def test_user_in_two_accounts_must_choose_a_realm(api, services):
    a = await make_tenant(services, "Alpha")
    b = await make_tenant(services, "Beta")
    in_a = await make_member(services, a, Role.EDITOR)
    in_b = await add_membership(services, b, in_a.user_id, Role.ADMINISTRATOR)
    token = in_a.token

    body = await api(ACCOUNT, token=token)
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] is None
    viewer = await api.data(
        "{ viewer { role account { slug } accounts { slug role } } }", token=token
    )
    assert viewer["viewer"]["role"] is None
    assert viewer["viewer"]["account"] is None
    # sorted on both sides: the factories' slugs ("tenant-99", "tenant-100") need not sort
    # in the order the tenants were made
    assert sorted((x["slug"], x["role"]) for x in viewer["viewer"]["accounts"]) == sorted(
        [(a.slug, "EDITOR"), (b.slug, "ADMINISTRATOR")]
    )

    for tenant, role in ((a, "EDITOR"), (b, "ADMINISTRATOR")):
        for realm in (tenant.slug, str(tenant.account_id)):
            data = await api.data(VIEWER, token=token, realm=realm)
            assert data["viewer"]["role"] == role
            assert data["viewer"]["account"]["slug"] == tenant.slug
    # The session token works in both realms; either token of the user does.
    assert (await api.data(ROLE, token=in_b.token, realm=a.slug))["viewer"]["role"] == "EDITOR"


async def test_foreign_realm_unknown_realm_and_bogus_token_answer_alike(api, services):
    a = await make_tenant(services, "Alpha")
    b = await make_tenant(services, "Beta")
    member = await make_member(services, a, Role.EDITOR)
    attempts = {
        "foreign slug": {"token": member.token, "realm": b.slug},
        "foreign id": {"token": member.token, "realm": str(b.account_id)},
        "unknown slug": {"token": member.token, "realm": "no-such-realm"},
        "unknown id": {"token": member.token, "realm": "987654"},
        "bogus token": {"token": "rs_bogus-token-value", "realm": a.slug},
        "bogus token, no realm": {"token": "rs_bogus-token-value", "realm": None},
    }
    for query in (VIEWER, ACCOUNT):
        responses = {label: await api.raw(query, **kw) for label, kw in attempts.items()}
        first = responses["foreign slug"]
        assert error_codes(first.json()) == ["UNAUTHENTICATED"]
        for label, response in responses.items():
            assert response.status_code == first.status_code, label
            assert response.json() == first.json(), label


async def test_membership_that_is_not_active_is_not_a_realm(api, services):
    a = await make_tenant(services, "Alpha")
    b = await make_tenant(services, "Beta")
    member = await make_member(services, a, Role.EDITOR)
    disabled = await add_membership(services, b, member.user_id, Role.EDITOR)
    await update_row(services, Staff, disabled.staff_pk, account_status=AccountStatus.DISABLED)
    unknown = await api.raw(ROLE, token=member.token, realm="no-such-realm")
    foreign = await api.raw(ROLE, token=member.token, realm=b.slug)
    assert error_codes(foreign.json()) == ["UNAUTHENTICATED"]
    assert foreign.json() == unknown.json()
    # With one active membership left, no realm is needed.
    assert (await api.data(ROLE, token=member.token))["viewer"]["role"] == "EDITOR"


# --- token lifetime -----------------------------------------------------------------------


async def test_expired_token_is_refused(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    assert (await api.data(ROLE, as_=member))["viewer"]["role"] == "VIEWER"
    row = await _token_row(services, member.token)
    await update_row(services, AuthToken, row.id, expires_at=utcnow() - timedelta(seconds=1))
    assert error_codes(await api(ROLE, as_=member)) == ["UNAUTHENTICATED"]


async def test_revoked_token_is_refused(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    row = await _token_row(services, member.token)
    await update_row(services, AuthToken, row.id, revoked_at=utcnow())
    assert error_codes(await api(ROLE, as_=member)) == ["UNAUTHENTICATED"]


async def test_role_is_read_fresh_on_every_request(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.EDITOR)
    first = await api.data("{ viewer { role permits } }", as_=member)
    assert first["viewer"]["role"] == "EDITOR"
    assert "MANAGE_STAFF" not in first["viewer"]["permits"]
    await update_row(services, Staff, member.staff_pk, role=Role.ADMINISTRATOR)
    second = await api.data("{ viewer { role permits } }", as_=member)
    assert second["viewer"]["role"] == "ADMINISTRATOR"
    assert "MANAGE_STAFF" in second["viewer"]["permits"]
    await update_row(services, Staff, member.staff_pk, account_status=AccountStatus.DISABLED)
    assert error_codes(await api(ROLE, as_=member)) == ["UNAUTHENTICATED"]


# --- API tokens ---------------------------------------------------------------------------


async def test_api_token_works_and_is_listed(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.EDITOR)
    created = (await api.data(TOKEN_CREATE, {"name": "Payroll sync"}, as_=member))["apiTokenCreate"]
    assert created["userErrors"] == []
    assert created["token"]
    assert created["apiToken"]["name"] == "Payroll sync"
    assert created["apiToken"]["revokedAt"] is None

    # an editor's key has no personal_data scope (editors hold no ViewPersonalData): it
    # sees its login's email no more than its creator's record's
    for kw in ({"token": created["token"]}, {"token": created["token"], "realm": tenant.slug}):
        data = await api.data("{ viewer { role user { email } } }", **kw)
        assert data["viewer"] == {"role": "EDITOR", "user": {"email": None}}
    x_auth = await api.raw(ROLE, headers={"X-Auth-Token": created["token"]})
    assert x_auth.json() == {"data": {"viewer": {"role": "EDITOR"}}}

    listed = await api.data(TOKENS, as_=member)
    assert listed["viewer"]["apiTokens"] == [
        {"id": created["apiToken"]["id"], "name": "Payroll sync"}
    ]


async def test_api_token_is_bound_to_its_account(api, services):
    a = await make_tenant(services, "Alpha")
    b = await make_tenant(services, "Beta")
    in_a = await make_member(services, a, Role.EDITOR)
    await add_membership(services, b, in_a.user_id, Role.ADMINISTRATOR)
    created = (await api.data(TOKEN_CREATE, {"name": "a-only"}, as_=in_a))["apiTokenCreate"]
    token = created["token"]

    # Without a realm the token acts in its own account, although the user has two.
    assert (await api.data(VIEWER, token=token))["viewer"]["account"]["slug"] == a.slug
    for realm in (b.slug, str(b.account_id)):
        body = await api(ROLE, token=token, realm=realm)
        assert error_codes(body) == ["UNAUTHENTICATED"], realm
    # The session token of the same user is not bound and works in B.
    session_b = await api.data(ROLE, token=in_a.token, realm=b.slug)
    assert session_b["viewer"]["role"] == "ADMINISTRATOR"
    # The token is listed only in its own account.
    assert (await api.data(TOKENS, token=in_a.token, realm=b.slug))["viewer"]["apiTokens"] == []


@pytest.mark.parametrize("days", [0, -1, 366, 10_000])
async def test_api_token_lifetime_out_of_range_is_a_user_error(api, services, days):
    tenant = await make_tenant(services)
    data = await api.data(TOKEN_CREATE, {"name": "bad", "days": days}, as_=tenant.owner)
    payload = data["apiTokenCreate"]
    assert payload["token"] is None
    assert payload["apiToken"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID", ["input", "expiresInDays"])
    ]
    assert (await api.data(TOKENS, as_=tenant.owner))["viewer"]["apiTokens"] == []


@pytest.mark.parametrize("days", [1, 365])
async def test_api_token_lifetime_bounds_are_accepted(api, services, days):
    tenant = await make_tenant(services)
    before = utcnow()
    data = await api.data(TOKEN_CREATE, {"name": "ok", "days": days}, as_=tenant.owner)
    payload = data["apiTokenCreate"]
    assert payload["userErrors"] == []
    row = await _token_row(services, payload["token"])
    lifetime = row.expires_at - before
    assert timedelta(days=days) <= lifetime < timedelta(days=days, minutes=5)


async def test_revoked_api_token_fails_on_the_next_request(api, services):
    tenant = await make_tenant(services)
    owner = tenant.owner
    created = (await api.data(TOKEN_CREATE, {"name": "ci"}, as_=owner))["apiTokenCreate"]
    token = created["token"]
    assert (await api.data(ROLE, token=token))["viewer"]["role"] == "OWNER"
    # managing keys needs the owner's own session, not a key (even the key itself)
    refused = await api(TOKEN_REVOKE, {"id": created["apiToken"]["id"]}, token=token)
    assert error_codes(refused) == ["FORBIDDEN"]
    revoked = await api.data(TOKEN_REVOKE, {"id": created["apiToken"]["id"]}, as_=owner)
    assert revoked["apiTokenRevoke"]["userErrors"] == []
    assert revoked["apiTokenRevoke"]["apiToken"]["revokedAt"] is not None
    assert error_codes(await api(ROLE, token=token)) == ["UNAUTHENTICATED"]
    assert (await api.data(TOKENS, as_=owner))["viewer"]["apiTokens"] == []
    # The owner's session is unaffected.
    assert (await api.data(ROLE, as_=owner))["viewer"]["role"] == "OWNER"


async def test_api_token_of_another_user_cannot_be_revoked_by_a_non_administrator(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    editor = await make_member(services, tenant, Role.EDITOR)
    created = (await api.data(TOKEN_CREATE, {"name": "mine"}, as_=admin))["apiTokenCreate"]
    data = await api.data(TOKEN_REVOKE, {"id": created["apiToken"]["id"]}, as_=editor)
    assert [e["code"] for e in data["apiTokenRevoke"]["userErrors"]] == ["NOT_FOUND"]
    assert (await api.data(ROLE, token=created["token"]))["viewer"]["role"] == "ADMINISTRATOR"


async def test_only_a_sha256_digest_of_tokens_is_stored(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    session_token = (await api.data(LOGIN, {"email": member.email, "password": PASSWORD}))["login"][
        "token"
    ]
    api_token = (await api.data(TOKEN_CREATE, {"name": "x"}, as_=member))["apiTokenCreate"]["token"]
    async with services.db.session() as session:
        rows = (await session.execute(text("SELECT * FROM auth_tokens"))).all()
    dump = repr([tuple(r) for r in rows])
    digests = {r._mapping["digest"] for r in rows}
    for token in (session_token, api_token, member.token):
        assert token not in dump
        secret = token.split("_", 1)[1]
        assert secret not in dump
        assert hashlib.sha256(token.encode()).hexdigest() in digests


# --- password hashes ----------------------------------------------------------------------


async def test_passwords_are_stored_as_argon2id(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    stored = await _password_hash(services, member.user_id)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_old_hash_parameters_are_upgraded_on_next_successful_login(api, services, settings):
    old = PasswordService(
        time_cost=settings.argon2_time_cost + 1,
        memory_cost=settings.argon2_memory_cost,
        parallelism=settings.argon2_parallelism,
        workers=1,
    )
    try:
        user = await make_user(SimpleNamespace(db=services.db, passwords=old), "legacy@example.com")
    finally:
        old.shutdown()
    legacy = await _password_hash(services, user.id)
    assert f"t={settings.argon2_time_cost + 1}" in legacy
    assert services.passwords.needs_rehash(legacy)

    wrong = await api.data(LOGIN, {"email": "legacy@example.com", "password": "wrong password"})
    assert wrong["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    assert await _password_hash(services, user.id) == legacy

    ok = await api.data(LOGIN, {"email": "legacy@example.com", "password": PASSWORD})
    assert ok["login"]["userErrors"] == []
    upgraded = await _password_hash(services, user.id)
    assert upgraded != legacy
    assert upgraded.startswith("$argon2id$")
    assert f"t={settings.argon2_time_cost}," in upgraded
    assert not services.passwords.needs_rehash(upgraded)
    assert await services.passwords.verify(upgraded, PASSWORD, held=False)
    again = await api.data(LOGIN, {"email": "legacy@example.com", "password": PASSWORD})
    assert again["login"]["token"]
    assert await _password_hash(services, user.id) == upgraded
