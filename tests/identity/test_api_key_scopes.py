"""Scoped API keys: a key does what its scopes name, never more than its creator may do
now; it records when it was last used; its creator and administrators list and revoke it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.access import Role
from app.access.scopes import SCOPE_PERMITS, Scope, Surface, allows
from app.audit.models import AuditEntry
from app.db.base import utcnow
from app.graphql import limits
from app.identity import service as identity
from app.identity.models import AuthToken, TokenKind
from app.security.tokens import token_digest
from app.staff.models import Staff
from tests.factories import (
    error_codes,
    make_member,
    make_staff,
    make_tenant,
    set_token_columns,
    update_row,
)

CREATE = """mutation($name: String!, $scopes: [ApiScope!]) {
  apiTokenCreate(input: {name: $name, scopes: $scopes}) {
    token apiToken { id scopes } userErrors { field code message }
  }
}"""
REVOKE = """mutation($id: ID!) {
  apiTokenRevoke(input: {id: $id}) { apiToken { id revokedAt } userErrors { code } }
}"""
ALL_TOKENS = "{ apiTokens { id name scopes lastUsedAt creator { id } } }"
MY_TOKENS = "{ viewer { apiTokens { id scopes lastUsedAt } } }"
PERMITS = "{ viewer { role permits } }"
DIRECTORY = "{ staff(first: 50) { totalCount } }"
EMAIL = "query($id: ID!) { node(id: $id) { ... on Staff { email } } }"
UPDATE = """mutation($id: ID!) {
  staffUpdate(input: {id: $id, title: "Lead"}) { staff { title } userErrors { code } }
}"""
INVITE = """mutation($email: String!) {
  invitationCreate(input: {email: $email}) { invitation { id } userErrors { code } }
}"""
DISABLE = """mutation($id: ID!) {
  staffDisable(input: {staffId: $id}) { staff { accountStatus } userErrors { code } }
}"""


async def create_key(api, member, *scopes: str, name: str = "integration") -> dict:
    data = await api.data(CREATE, {"name": name, "scopes": list(scopes)}, as_=member)
    payload = data["apiTokenCreate"]
    assert payload["userErrors"] == [], payload
    return payload


def done(body: dict, field: str) -> bool:
    """Whether the mutation ``field`` did its work; a refusal is FORBIDDEN (top-level or a
    userError), or NOT_FOUND for a record the key does not see."""
    codes = error_codes(body) or [e["code"] for e in body["data"][field]["userErrors"]]
    assert set(codes) <= {"FORBIDDEN", "NOT_FOUND"}, body
    return not codes


def key_of(member, token: str) -> dict:
    return {"token": token, "realm": member.realm}


# What a key of the owner may do, by its scopes: the directory it reads (ALL, or OWN like
# a guest), another person's email, and whether editing, inviting and disabling work.
# ``scim`` counts only on the SCIM endpoint: here a key holds what its other scopes give.
# fmt: off
MATRIX = [
    # scopes                                  directory email  update  invite  disable
    (["STAFF_READ"],                          "ALL",    False, False,  False,  False),
    (["STAFF_READ", "STAFF_WRITE"],           "ALL",    False, True,   False,  False),
    (["STAFF_READ", "PERSONAL_DATA"],         "ALL",    True,  False,  False,  False),
    (["INVITATIONS_WRITE"],                   "OWN",    False, False,  False,  False),
    (["STAFF_READ", "INVITATIONS_WRITE"],     "ALL",    False, False,  True,   False),
    (["STAFF_READ", "ADMIN"],                 "ALL",    False, False,  False,  True),
    (["SCIM"],                                "OWN",    False, False,  False,  False),
    (["SCIM", "STAFF_READ", "PERSONAL_DATA"], "ALL",    True,  False,  False,  False),
]
# fmt: on


@pytest.mark.parametrize(
    ("scopes", "directory", "email", "update", "invite", "disable"),
    MATRIX,
    ids=["+".join(row[0]) for row in MATRIX],
)
async def test_a_key_does_what_its_scopes_name(
    api, services, scopes, directory, email, update, invite, disable
):
    tenant = await make_tenant(services)
    owner = tenant.owner
    person = await make_member(services, tenant, Role.VIEWER)
    await make_staff(services, tenant, first_name="Plain", last_name="Record")
    key = key_of(owner, (await create_key(api, owner, *scopes))["token"])

    total = (await api.data(DIRECTORY, **key))["staff"]["totalCount"]
    assert total == (3 if directory == "ALL" else 1)

    seen = (await api.data(EMAIL, {"id": person.staff_id}, **key))["node"]
    assert (seen is not None and seen["email"] == person.email) is email

    body = await api(UPDATE, {"id": person.staff_id}, **key)
    assert done(body, "staffUpdate") is update

    body = await api(INVITE, {"email": "new.person@example.com"}, **key)
    assert done(body, "invitationCreate") is invite

    body = await api(DISABLE, {"id": person.staff_id}, **key)
    assert done(body, "staffDisable") is disable


async def test_personal_data_is_hidden_from_an_administrators_key_without_the_scope(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    person = await make_member(services, tenant, Role.VIEWER)
    # the administrator's own session sees the email
    assert (await api.data(EMAIL, {"id": person.staff_id}, as_=admin))["node"]["email"]
    key = key_of(admin, (await create_key(api, admin, "STAFF_READ", "ADMIN"))["token"])
    assert (await api.data(EMAIL, {"id": person.staff_id}, **key))["node"] == {"email": None}
    permits = (await api.data(PERMITS, **key))["viewer"]["permits"]
    assert permits == sorted(
        ["VIEW_STAFF", "VIEW_RESTRICTED_STAFF", "MANAGE_STAFF", "MANAGE_ACCOUNT"]
    )


async def test_no_key_reaches_beyond_its_creator(api, services):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    editor = await make_member(services, tenant, Role.EDITOR)
    for member, scope in [
        (viewer, "ADMIN"),
        (viewer, "STAFF_WRITE"),
        (viewer, "PERSONAL_DATA"),
        (editor, "SCIM"),  # provisioning needs everything SCIM does (disabling people)
    ]:
        data = await api.data(CREATE, {"name": "x", "scopes": [scope]}, as_=member)
        errors = data["apiTokenCreate"]["userErrors"]
        assert [(e["code"], e["field"]) for e in errors] == [("FORBIDDEN", ["input", "scopes"])]
        assert Scope[scope].value in errors[0]["message"]
        assert data["apiTokenCreate"]["token"] is None
    assert (await api.data(MY_TOKENS, as_=viewer))["viewer"]["apiTokens"] == []
    # within their role, they may
    assert (await create_key(api, viewer, "STAFF_READ"))["apiToken"]["scopes"] == ["STAFF_READ"]
    # naming none is a mistake, not an empty key
    data = await api.data(CREATE, {"name": "x", "scopes": []}, as_=viewer)
    assert [e["code"] for e in data["apiTokenCreate"]["userErrors"]] == ["INVALID"]


async def test_a_key_made_without_scopes_gets_its_creators_role_but_not_scim(api, services):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    data = await api.data(CREATE, {"name": "old style", "scopes": None}, as_=viewer)
    assert data["apiTokenCreate"]["apiToken"]["scopes"] == ["STAFF_READ"]
    data = await api.data(CREATE, {"name": "old style", "scopes": None}, as_=tenant.owner)
    assert data["apiTokenCreate"]["apiToken"]["scopes"] == [
        "STAFF_READ",
        "STAFF_WRITE",
        "INVITATIONS_WRITE",
        "PERSONAL_DATA",
        "ADMIN",
    ]


async def test_a_demoted_creators_key_shrinks_on_the_next_request(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    person = await make_member(services, tenant, Role.VIEWER)
    key = key_of(
        admin, (await create_key(api, admin, "STAFF_READ", "STAFF_WRITE", "ADMIN"))["token"]
    )
    assert done(await api(UPDATE, {"id": person.staff_id}, **key), "staffUpdate")

    await update_row(services, Staff, admin.staff_pk, role=Role.VIEWER)
    viewer = (await api.data(PERMITS, **key))["viewer"]
    assert viewer == {"role": "VIEWER", "permits": ["VIEW_STAFF"]}
    assert not done(await api(UPDATE, {"id": person.staff_id}, **key), "staffUpdate")
    assert not done(await api(DISABLE, {"id": person.staff_id}, **key), "staffDisable")


async def test_a_disabled_creators_keys_stop(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    key = key_of(admin, (await create_key(api, admin, "STAFF_READ"))["token"])
    assert (await api.data(PERMITS, **key))["viewer"]["role"] == "ADMINISTRATOR"
    body = await api(DISABLE, {"id": admin.staff_id}, as_=tenant.owner)
    assert done(body, "staffDisable")
    assert error_codes(await api(PERMITS, **key)) == ["UNAUTHENTICATED"]
    assert error_codes(await api(DIRECTORY, **key)) == ["UNAUTHENTICATED"]


async def last_used(services, token: str):
    async with services.db.session() as session:
        return await session.scalar(
            select(AuthToken.last_used_at).where(AuthToken.digest == token_digest(token))
        )


async def test_last_used_at_is_recorded_at_most_once_a_minute(api, services):
    tenant = await make_tenant(services)
    token = (await create_key(api, tenant.owner, "STAFF_READ"))["token"]
    key = key_of(tenant.owner, token)
    assert (await api.data(MY_TOKENS, as_=tenant.owner))["viewer"]["apiTokens"][0][
        "lastUsedAt"
    ] is None
    # a session's requests do not touch it
    await api.data(DIRECTORY, as_=tenant.owner)
    assert await last_used(services, token) is None

    before = utcnow()
    await api.data(DIRECTORY, **key)
    first = await last_used(services, token)
    assert first is not None and first >= before - timedelta(seconds=1)
    await api.data(DIRECTORY, **key)
    await api.data(PERMITS, **key)
    assert await last_used(services, token) == first  # not rewritten within the minute

    await set_token_columns(services, token, last_used_at=utcnow() - timedelta(seconds=61))
    await api.data(DIRECTORY, **key)
    assert await last_used(services, token) >= before
    shown = (await api.data(MY_TOKENS, as_=tenant.owner))["viewer"]["apiTokens"][0]
    assert shown["lastUsedAt"] is not None


async def test_administrators_list_and_revoke_every_key_of_the_account(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    editor = await make_member(services, tenant, Role.EDITOR)
    viewer = await make_member(services, tenant, Role.VIEWER)
    editors = await create_key(api, editor, "STAFF_READ", "STAFF_WRITE", name="editor's")
    await create_key(api, admin, "ADMIN", name="admin's")
    other = await make_tenant(services)
    await create_key(api, other.owner, "STAFF_READ", name="elsewhere")

    listed = (await api.data(ALL_TOKENS, as_=tenant.owner))["apiTokens"]
    assert [(t["name"], t["scopes"], t["creator"]["id"]) for t in listed] == [
        ("editor's", ["STAFF_READ", "STAFF_WRITE"], editor.staff_id),
        ("admin's", ["ADMIN"], admin.staff_id),
    ]
    assert error_codes(await api(ALL_TOKENS, as_=viewer)) == ["FORBIDDEN"]
    assert error_codes(await api(ALL_TOKENS, as_=editor)) == ["FORBIDDEN"]

    token_id = editors["apiToken"]["id"]
    # another member without the permit, and another account's administrator: not found
    for stranger in (viewer, other.owner):
        data = await api.data(REVOKE, {"id": token_id}, as_=stranger)
        assert [e["code"] for e in data["apiTokenRevoke"]["userErrors"]] == ["NOT_FOUND"]
        node = await api.data(
            "query($id: ID!) { node(id: $id) { id } }", {"id": token_id}, as_=stranger
        )
        assert node["node"] is None
    assert (await api.data(PERMITS, **key_of(editor, editors["token"])))["viewer"]["role"]

    data = await api.data(REVOKE, {"id": token_id}, as_=admin)
    assert data["apiTokenRevoke"]["userErrors"] == []
    assert data["apiTokenRevoke"]["apiToken"]["revokedAt"] is not None
    assert error_codes(await api(PERMITS, **key_of(editor, editors["token"]))) == [
        "UNAUTHENTICATED"
    ]
    listed = (await api.data(ALL_TOKENS, as_=admin))["apiTokens"]
    assert [t["name"] for t in listed] == ["admin's"]

    # audited, with the scopes and who revoked whose key; never the digest
    async with services.db.session() as session:
        entries = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.account_id == tenant.account_id)
                .where(AuditEntry.action.in_(["apiTokenCreate", "apiTokenRevoke"]))
                .order_by(AuditEntry.id)
            )
        ).all()
        digests = (await session.scalars(select(AuthToken.digest))).all()
    assert [(e.action, e.actor_staff_id) for e in entries] == [
        ("apiTokenCreate", editor.staff_pk),
        ("apiTokenCreate", admin.staff_pk),
        ("apiTokenRevoke", admin.staff_pk),
    ]
    dump = json.dumps([e.diff for e in entries])
    assert "staff:write" in dump
    assert not any(d in dump for d in digests)


async def test_a_key_that_does_not_read_the_directory_names_no_other_keys_creator(api, services):
    """An ``admin``-only key reads like a guest: the keys' list shows it the creators it
    sees (its own creator), and no name card of a record it could not read by id."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    await create_key(api, admin, "STAFF_READ", name="admin's")
    alone = await create_key(api, tenant.owner, "ADMIN", name="owner's")
    query = "{ apiTokens { name creator { id fullName } } }"
    listed = (await api.data(query, **key_of(tenant.owner, alone["token"])))["apiTokens"]
    assert [(t["name"], t["creator"] and t["creator"]["id"]) for t in listed] == [
        ("admin's", None), ("owner's", tenant.owner.staff_id)]  # fmt: skip
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert (await api.data(node, {"id": admin.staff_id},
                           **key_of(tenant.owner, alone["token"])))["node"] is None  # fmt: skip
    # the owner's session, which reads the directory, sees both
    listed = (await api.data(query, as_=tenant.owner))["apiTokens"]
    assert [t["creator"]["id"] for t in listed] == [admin.staff_id, tenant.owner.staff_id]


async def test_a_key_may_not_revoke_keys(api, services):
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    editors = await create_key(api, editor, "STAFF_READ")
    reader = key_of(tenant.owner, (await create_key(api, tenant.owner, "STAFF_READ"))["token"])
    # the owner's staff:read key is no administrator: it sees only its creator's keys
    assert error_codes(await api(ALL_TOKENS, **reader)) == ["FORBIDDEN"]
    # and managing keys needs one's own session, whatever the key's scopes
    # (tests/identity/test_review_own_session_credentials.py)
    body = await api(REVOKE, {"id": editors["apiToken"]["id"]}, **reader)
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] is None


async def test_scim_is_open_only_to_keys_that_name_it_while_their_creator_may(services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    async with services.db.session(write=True) as session:
        actor = (await identity.authenticate_actor(session, admin.token, admin.realm))[1]
        assert actor is not None
        token, _ = await identity.create_api_token(
            session,
            actor,
            name="idp",
            expires_in_days=None,
            default_days=30,
            max_days=30,
            scopes=[Scope.SCIM],
        )
        plain, _ = await identity.create_api_token(
            session,
            actor,
            name="app",
            expires_in_days=None,
            default_days=30,
            max_days=30,
            scopes=[Scope.STAFF_READ, Scope.STAFF_WRITE],
        )
        await session.commit()

    async def actor_of(secret: str, surface: Surface = Surface.SCIM):
        async with services.db.session() as session:
            return (
                await identity.authenticate_actor(session, secret, admin.realm, surface=surface)
            )[1]

    assert not allows(actor, Scope.SCIM)  # a session never opens SCIM
    assert not allows(await actor_of(admin.token), Scope.SCIM)  # not even on SCIM's surface
    assert allows(actor, Scope.STAFF_WRITE)
    scim = await actor_of(token)
    assert allows(scim, Scope.SCIM) and scim.permits == SCOPE_PERMITS[Scope.SCIM]
    # everywhere else the scim scope counts for nothing
    elsewhere = await actor_of(token, Surface.API)
    assert not allows(elsewhere, Scope.SCIM)
    assert elsewhere.permits == frozenset() and elsewhere.scopes == frozenset()
    assert not allows(await actor_of(plain), Scope.SCIM)
    await update_row(services, Staff, admin.staff_pk, role=Role.EDITOR)
    demoted = await actor_of(token)
    assert not allows(demoted, Scope.SCIM)  # an editor may not disable people


def test_the_cost_model_bounds_the_scopes_of_a_key():
    assert len(Scope) <= limits._SCOPES


@pytest.mark.parametrize(
    ("scopes", "shown"),
    [(["STAFF_READ"], False), (["STAFF_READ", "PERSONAL_DATA"], True), (["SCIM"], False)],
)
async def test_a_key_shows_its_login_email_only_with_personal_data(api, services, scopes, shown):
    """The login's email is personal data of its user: a key without ``personal_data``
    (``scim`` does not count here) sees it no more than its creator's record's email."""
    tenant = await make_tenant(services)
    owner = tenant.owner
    key = key_of(owner, (await create_key(api, owner, *scopes))["token"])
    data = await api.data("{ viewer { user { id email } staff { email } } }", **key)
    expected = owner.email if shown else None
    assert data["viewer"]["user"]["email"] == expected
    assert data["viewer"]["staff"]["email"] == expected
    node = "query($id: ID!) { node(id: $id) { ... on User { email } } }"
    found = await api.data(node, {"id": data["viewer"]["user"]["id"]}, **key)
    assert found["node"] == {"email": expected}
    # the owner's own session always sees it
    own = await api.data("{ viewer { user { email } } }", as_=owner)
    assert own["viewer"]["user"]["email"] == owner.email


async def test_a_key_asked_for_while_its_creator_is_disabled_is_not_made(api, services):
    """A request that authenticated just before its member was disabled (the disable ends
    their tokens under the account's lock) makes no key once it gets the lock: one made
    then would not have been ended, and would come back when the member is enabled."""
    from app.errors import AccessDenied
    from tests.factories import make_member

    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.EDITOR)
    async with services.db.session() as session:
        _, actor = await identity.authenticate_actor(session, member.token, member.realm)
    assert actor is not None
    disabled = await api.data(
        "mutation($id: ID!) { staffDisable(input: {staffId: $id}) { userErrors { code } } }",
        {"id": member.staff_id},
        as_=tenant.owner,
    )
    assert disabled["staffDisable"]["userErrors"] == []
    async with services.db.session(write=True) as session:
        with pytest.raises(AccessDenied):
            await identity.create_api_token(
                session, actor, name="late", expires_in_days=None, default_days=30,
                max_days=365, scopes=None,
            )  # fmt: skip
    async with services.db.session() as session:
        keys = await session.scalar(
            select(func.count()).select_from(AuthToken).where(AuthToken.kind == TokenKind.API)
        )
    assert keys == 0
