"""A permit grant or a share gives something on top of a role, never what the role gives
anyway: such a grant would come into force once its member had a lower role, so an
administrator could give themselves personal data and every restricted record, and keep
both when demoted (``app.staff.service.redundant_grant``, ``redundant_share``,
``app.staff.membership.drop_redundant``)."""

from __future__ import annotations

from sqlalchemy import select

from app.access import Role
from app.staff.models import StaffPermitGrant, StaffShare
from tests.db.test_review_migration_0008 import alembic, sql
from tests.factories import (
    PERMIT_GRANT,
    gid,
    make_member,
    make_staff,
    make_tenant,
)
from tests.staff.test_membership import ROLE_CHANGE

SHARE = """mutation($staff: ID!, $with: ID!) {
  staffShare(input: {staffId: $staff, sharedWithId: $with}) {
    staff { id } userErrors { field code message }
  }
}"""
# what a member sees of a restricted record with an email
SEEN = """query($id: ID!) { node(id: $id) { ... on Staff { lastName email capacity } } }"""
INVITE = """mutation($email: String!) {
  invitationCreate(input: {email: $email, role: ADMINISTRATOR}) { userErrors { code } }
}"""


async def _restricted(services, tenant) -> str:
    row = await make_staff(
        services, tenant, last_name="Hidden", capacity=140, email="hidden@x.test",
        restricted=True,
    )  # fmt: skip
    return gid("Staff", row.id)


async def _grants_and_shares(services, staff_pk: int) -> tuple[list, list]:
    async with services.db.session() as session:
        grants = list(
            await session.scalars(
                select(StaffPermitGrant.permit).where(StaffPermitGrant.staff_id == staff_pk)
            )
        )
        shares = list(
            await session.scalars(
                select(StaffShare.staff_id).where(StaffShare.shared_with_id == staff_pk)
            )
        )
    return grants, shares


async def test_an_administrator_gives_themselves_nothing_to_keep_when_demoted(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    record = await _restricted(services, tenant)

    granted = await api.data(PERMIT_GRANT, {"id": admin.staff_id}, as_=admin)
    assert [e["code"] for e in granted["staffPermitGrant"]["userErrors"]] == ["FORBIDDEN"]
    shared = await api.data(SHARE, {"staff": record, "with": admin.staff_id}, as_=admin)
    [error] = shared["staffShare"]["userErrors"]
    assert error["field"] == ["input", "sharedWithId"]
    assert await _grants_and_shares(services, admin.staff_pk) == ([], [])

    demoted = await api.data(ROLE_CHANGE, {"id": admin.staff_id, "role": "VIEWER"}, as_=tenant.owner)
    assert demoted["staffRoleChange"]["userErrors"] == []
    seen = (await api.data(SEEN, {"id": record}, as_=admin))["node"]
    assert seen == {"lastName": "Hidden", "email": None, "capacity": None}


async def test_a_peer_administrator_is_given_nothing_their_role_gives(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    peer = await make_member(services, tenant, Role.ADMINISTRATOR)
    record = await _restricted(services, tenant)

    for giver in (admin, tenant.owner):
        granted = await api.data(PERMIT_GRANT, {"id": peer.staff_id}, as_=giver)
        assert [e["code"] for e in granted["staffPermitGrant"]["userErrors"]] == ["INVALID"]
        shared = await api.data(SHARE, {"staff": record, "with": peer.staff_id}, as_=giver)
        assert [e["field"] for e in shared["staffShare"]["userErrors"]] == [
            ["input", "sharedWithId"]
        ]
    assert await _grants_and_shares(services, peer.staff_pk) == ([], [])


async def test_a_promotion_drops_what_the_new_role_gives_and_a_demotion_brings_none_back(
    api, services
):
    """Given on top of a lower role, a grant and a share hold while that role does; the
    higher role gives both, so they go, and the member demoted again has that role alone."""
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    record = await _restricted(services, tenant)
    granted = await api.data(PERMIT_GRANT, {"id": editor.staff_id}, as_=tenant.owner)
    assert granted["staffPermitGrant"]["userErrors"] == []
    shared = await api.data(SHARE, {"staff": record, "with": editor.staff_id}, as_=tenant.owner)
    assert shared["staffShare"]["userErrors"] == []
    seen = (await api.data(SEEN, {"id": record}, as_=editor))["node"]
    assert seen == {"lastName": "Hidden", "email": "hidden@x.test", "capacity": 140}

    for role in ("ADMINISTRATOR", "EDITOR"):
        changed = await api.data(ROLE_CHANGE, {"id": editor.staff_id, "role": role}, as_=tenant.owner)
        assert changed["staffRoleChange"]["userErrors"] == []
    assert await _grants_and_shares(services, editor.staff_pk) == ([], [])
    seen = (await api.data(SEEN, {"id": record}, as_=editor))["node"]
    assert seen == {"lastName": "Hidden", "email": None, "capacity": None}


async def test_a_demotion_keeps_what_was_given_on_top_of_a_role_that_lacked_it(api, services):
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    record = await _restricted(services, tenant)
    await api.data(PERMIT_GRANT, {"id": editor.staff_id}, as_=tenant.owner)
    await api.data(SHARE, {"staff": record, "with": editor.staff_id}, as_=tenant.owner)

    changed = await api.data(ROLE_CHANGE, {"id": editor.staff_id, "role": "VIEWER"}, as_=tenant.owner)
    assert changed["staffRoleChange"]["userErrors"] == []
    grants, shares = await _grants_and_shares(services, editor.staff_pk)
    assert (grants, len(shares)) == (["VIEW_PERSONAL_DATA"], 1)
    seen = (await api.data(SEEN, {"id": record}, as_=editor))["node"]
    assert seen["email"] == "hidden@x.test"


async def test_0035_drops_the_grants_and_shares_a_role_gives_and_keeps_the_rest(
    database_url, services
):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    editor = await make_member(services, tenant, Role.EDITOR)
    record = await make_staff(services, tenant, last_name="Hidden", restricted=True)

    await alembic("downgrade", database_url, "0034")
    try:  # what an administrator could give themselves before 0035
        for member in (admin, editor, tenant.owner):
            await sql(
                database_url,
                "INSERT INTO staff_permit_grants (staff_id, permit, account_id, created_at) "
                "VALUES (:staff, 'VIEW_PERSONAL_DATA', :account, CURRENT_TIMESTAMP)",
                {"staff": member.staff_pk, "account": tenant.account_id},
            )
            await sql(
                database_url,
                "INSERT INTO staff_shares (staff_id, shared_with_id, account_id, created_at) "
                "VALUES (:record, :staff, :account, CURRENT_TIMESTAMP)",
                {"record": record.id, "staff": member.staff_pk, "account": tenant.account_id},
            )
    finally:
        await alembic("upgrade", database_url, "head")

    assert await _grants_and_shares(services, admin.staff_pk) == ([], [])
    assert await _grants_and_shares(services, tenant.owner.staff_pk) == ([], [])
    assert await _grants_and_shares(services, editor.staff_pk) == (
        ["VIEW_PERSONAL_DATA"],
        [record.id],
    )


async def test_inviting_a_record_in_a_role_that_gives_its_grant_drops_the_grant(api, services):
    tenant = await make_tenant(services)
    row = await make_staff(services, tenant, last_name="Later", email="later@x.test")
    granted = await api.data(PERMIT_GRANT, {"id": gid("Staff", row.id)}, as_=tenant.owner)
    assert granted["staffPermitGrant"]["userErrors"] == []

    invited = await api.data(INVITE, {"email": "later@x.test"}, as_=tenant.owner)
    assert invited["invitationCreate"]["userErrors"] == []
    assert await _grants_and_shares(services, row.id) == ([], [])


async def test_a_restricted_record_added_through_an_administrators_key_is_shared_with_nobody(
    api, services
):
    """Whoever adds a restricted record keeps sight of it by a share where their role does
    not show it; an administrator's key without staff:read left a share with them, which
    a demotion would have brought into force."""
    from tests.identity.test_api_key_scopes import create_key

    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    editor = await make_member(services, tenant, Role.EDITOR)
    add = """mutation($name: String!) { staffCreate(input: {firstName: "R", lastName: $name,
      restricted: true}) { staff { id } userErrors { code } } }"""
    key = (await create_key(api, admin, "STAFF_WRITE"))["token"]
    made = await api.data(add, {"name": "ByKey"}, token=key, realm=tenant.slug)
    assert made["staffCreate"]["userErrors"] == []
    by_editor = await api.data(add, {"name": "ByEditor"}, as_=editor)
    assert by_editor["staffCreate"]["userErrors"] == []

    assert await _grants_and_shares(services, admin.staff_pk) == ([], [])
    _, shares = await _grants_and_shares(services, editor.staff_pk)
    assert len(shares) == 1  # the editor keeps sight of the record they added


async def test_a_restore_drops_the_grants_and_shares_a_role_gives(services, tmp_path):
    import json

    from tests.accounts.test_restore import backup, drop_account, restore

    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    editor = await make_member(services, tenant, Role.EDITOR)
    record = await make_staff(services, tenant, last_name="Hidden", restricted=True)
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    for member in (admin, editor):  # as a backup made before migration 0035 may hold
        document["staffPermitGrants"].append({
            "staff_id": member.staff_pk, "permit": "VIEW_PERSONAL_DATA",
            "account_id": tenant.account_id, "created_at": "2026-01-01T00:00:00+00:00",
        })  # fmt: skip
        document["staffShares"].append({
            "staff_id": record.id, "shared_with_id": member.staff_pk,
            "account_id": tenant.account_id, "created_at": "2026-01-01T00:00:00+00:00",
        })  # fmt: skip
    await drop_account(services, tenant.account_id)

    await restore(services, json.dumps(document).encode())
    assert await _grants_and_shares(services, admin.staff_pk) == ([], [])
    assert await _grants_and_shares(services, editor.staff_pk) == (
        ["VIEW_PERSONAL_DATA"],
        [record.id],
    )
