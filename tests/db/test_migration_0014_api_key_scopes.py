"""Migration 0014 (API key scopes): API tokens made before scopes keep what they did (every
scope but scim), sessions get none; and it goes down and up again."""

from __future__ import annotations

from tests.db.test_review_migration_0008 import alembic, sql
from tests.factories import make_api_token, make_tenant

ROLE = "{ viewer { role permits } }"


def _before_0014() -> str:
    """The revision 0014 follows (whatever comes in between later)."""
    from alembic.script import ScriptDirectory

    from app.db.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    down = script.get_revision("0014").down_revision
    assert isinstance(down, str)
    return down


async def test_0014_gives_existing_api_tokens_every_scope_but_scim(database_url, services, api):
    tenant = await make_tenant(services)
    key = await make_api_token(services, tenant, tenant.owner)
    before = (await api.data(ROLE, token=key))["viewer"]
    await alembic("downgrade", database_url, _before_0014())
    try:
        assert "scopes" not in (await sql(database_url, "SELECT * FROM auth_tokens"))[0]
    finally:
        await alembic("upgrade", database_url, "head")
    rows = await sql(database_url, "SELECT kind, scopes FROM auth_tokens ORDER BY id")
    assert rows == [
        {"kind": "SESSION", "scopes": None},
        {"kind": "API", "scopes": "admin,invitations:write,personal_data,staff:read,staff:write"},
    ]
    after = (await api.data(ROLE, token=key))["viewer"]
    assert after == before
    # the owner's whole role, but for what no key ever carries
    session = (await api.data(ROLE, as_=tenant.owner))["viewer"]
    assert set(session["permits"]) - set(after["permits"]) == {"IMPERSONATE", "MANAGE_BILLING"}
