"""Migration 0032: the invitations and join links of members disabled or given a lower
role before ``withdraw_ways_in`` existed are withdrawn as it would have withdrawn them;
those their makers could still make are left as they were."""

from __future__ import annotations

from app.access import Role
from tests.db.test_review_migration_0008 import alembic, sql
from tests.factories import gid, make_member, make_staff, make_tenant
from tests.invitations.test_join_links import create_ok
from tests.invitations.test_service import invite_ok

LINKS = "{ joinLinks { id role disabled } }"
INVITATIONS = "{ invitations { edges { node { email status staff { accountStatus } } } } }"


async def test_0032_withdraws_what_makers_could_no_longer_make(database_url, services, api):
    tenant = await make_tenant(services, seats=30)
    await api.data(
        "mutation { accountUpdate(input: {everyoneCanInvite: true}) { userErrors { code } } }",
        as_=tenant.owner,
    )
    gone = await make_member(services, tenant, Role.ADMINISTRATOR)
    stays = await make_member(services, tenant, Role.ADMINISTRATOR)
    demoted = await make_member(services, tenant, Role.ADMINISTRATOR)
    record = gid("Staff", (await make_staff(services, tenant, last_name="Waiting")).id)
    await invite_ok(api, gone, "back.door@example.com", role="ADMINISTRATOR")
    await invite_ok(api, gone, "waiting@example.com", role="VIEWER", staffId=record)
    await invite_ok(api, stays, "hire@example.com", role="ADMINISTRATOR")
    await invite_ok(api, demoted, "too.high@example.com", role="ADMINISTRATOR")
    await invite_ok(api, demoted, "editor@example.com", role="EDITOR")
    _, gone_link = await create_ok(api, gone, role="VIEWER")
    _, stays_link = await create_ok(api, stays, role="ADMINISTRATOR")
    _, demoted_link = await create_ok(api, demoted, role="EDITOR")

    await alembic("downgrade", database_url, "0031")
    try:
        # what disabling and demoting left behind before 0032
        for member, column, value in (
            (gone, "account_status", "DISABLED"),
            (demoted, "role", "EDITOR"),
        ):
            await sql(
                database_url,
                f"UPDATE staff SET {column} = :value WHERE id = :id",
                {"value": value, "id": member.staff_pk},
            )
    finally:
        await alembic("upgrade", database_url, "head")

    edges = (await api.data(INVITATIONS, as_=tenant.owner))["invitations"]["edges"]
    assert {e["node"]["email"]: e["node"]["status"] for e in edges} == {
        "back.door@example.com": "REVOKED",
        "waiting@example.com": "REVOKED",
        "hire@example.com": "PENDING",
        "too.high@example.com": "REVOKED",
        "editor@example.com": "PENDING",  # an editor still invites editors here
    }
    waiting = next(e for e in edges if e["node"]["email"] == "waiting@example.com")
    assert waiting["node"]["staff"] == {"accountStatus": "NOT_INVITED"}
    links = {x["id"]: x["disabled"] for x in (await api.data(LINKS, as_=tenant.owner))["joinLinks"]}
    assert links == {gone_link["id"]: True, stays_link["id"]: False, demoted_link["id"]: True}
