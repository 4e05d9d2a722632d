"""Disabling meeting join links: a record an administrator disabled (say, after taking
back its invitation) does not come back ACTIVE because someone with its address used the
account's join link; only enabling it does."""

from __future__ import annotations

from sqlalchemy import select

from app.staff.models import AccountStatus, Staff
from tests.factories import get_row, gid, make_staff, make_tenant, make_user

LINK = """mutation($input: JoinLinkCreateInput!) {
  joinLinkCreate(input: $input) { url userErrors { code } }
}"""
JOIN = """mutation($input: JoinLinkJoinInput!) {
  joinLinkJoin(input: $input) { outcome userErrors { field code } }
}"""
DISABLE = """mutation($id: ID!) {
  staffDisable(input: {staffId: $id}) { staff { accountStatus } userErrors { code } }
}"""
ENABLE = DISABLE.replace("staffDisable", "staffEnable")
PASSWORD = "a good long password"


async def link_of(api, tenant) -> str:
    made = await api.data(LINK, {"input": {"role": "EDITOR"}}, as_=tenant.owner)
    return made["joinLinkCreate"]["url"].rsplit("/", 1)[1]


async def join(api, link, email, auth=None) -> dict:
    return (
        await api.data(
            JOIN,
            {"input": {"token": link, "email": email, "password": PASSWORD,
                       "firstName": "Bo", "lastName": "B"}},
            token=auth,
        )
    )["joinLinkJoin"]


async def disabled_record(api, services, tenant, email) -> Staff:
    record = await make_staff(services, tenant, email=email)
    body = await api.data(DISABLE, {"id": gid("Staff", record.id)}, as_=tenant.owner)
    assert body["staffDisable"]["staff"]["accountStatus"] == "DISABLED"
    return record


async def records_with(services, tenant, email) -> list[Staff]:
    async with services.db.session() as session:
        return list(
            await session.scalars(
                select(Staff).where(Staff.account_id == tenant.account_id, Staff.email == email)
            )
        )


async def test_a_newcomer_does_not_revive_a_disabled_record(api, services):
    tenant = await make_tenant(services)
    record = await disabled_record(api, services, tenant, "bob@example.com")
    link = await link_of(api, tenant)

    await join(api, link, "bob@example.com")
    [after] = await records_with(services, tenant, "bob@example.com")
    assert after.id == record.id
    assert after.account_status == AccountStatus.DISABLED
    assert after.user_id is None


async def test_a_signed_in_user_does_not_revive_their_disabled_record(api, services):
    tenant = await make_tenant(services)
    user = await make_user(services, "carol@example.com", PASSWORD)
    record = await disabled_record(api, services, tenant, user.email)
    link = await link_of(api, tenant)

    await join(api, link, user.email)  # with the right password
    after = await get_row(services, Staff, record.id)
    assert after.account_status == AccountStatus.DISABLED and after.user_id is None

    # enabling it is the administrator's call; then the link works
    body = await api.data(ENABLE, {"id": gid("Staff", record.id)}, as_=tenant.owner)
    assert body["staffEnable"]["staff"]["accountStatus"] == "NOT_INVITED"
    assert (await join(api, link, user.email))["userErrors"] == []
    after = await get_row(services, Staff, record.id)
    assert after.account_status == AccountStatus.ACTIVE and after.user_id == user.id
