"""The account's staff statuses: at most MAX_STATUSES (archived ones count: they stay), a
limit concurrent creates never pass, which the query cost model relies on."""

import asyncio

from sqlalchemy import func, select

from app.staff.models import StaffStatus
from app.staff.service import MAX_STATUSES
from app.validation import name_key
from tests.factories import make_tenant

CREATE = """mutation($name: String!) {
  staffStatusCreate(input: {name: $name}) { status { name } userErrors { code } }
}"""


async def _insert_statuses(services, tenant, count: int) -> None:
    async with services.db.session(write=True) as session:
        session.add_all(
            StaffStatus(account_id=tenant.account_id, name=f"S{i}", name_key=name_key(f"S{i}"))
            for i in range(count)
        )
        await session.commit()


async def _code(api, member, name: str) -> str:
    body = await api.data(CREATE, {"name": name}, as_=member)
    return (body["staffStatusCreate"]["userErrors"] or [{"code": "OK"}])[0]["code"]


async def _count(services, tenant) -> int:
    async with services.db.session() as session:
        return await session.scalar(
            select(func.count())
            .select_from(StaffStatus)
            .where(StaffStatus.account_id == tenant.account_id)
        )


async def test_an_account_has_at_most_the_limit_of_statuses(api, services):
    tenant = await make_tenant(services)
    await _insert_statuses(services, tenant, MAX_STATUSES - 1)
    assert await _code(api, tenant.owner, "Last one") == "OK"
    assert await _code(api, tenant.owner, "One too many") == "LIMIT_REACHED"
    assert await _count(services, tenant) == MAX_STATUSES


async def test_concurrent_creates_never_pass_the_status_limit(api, services):
    tenant = await make_tenant(services)
    await _insert_statuses(services, tenant, MAX_STATUSES - 2)
    codes = await asyncio.gather(*(_code(api, tenant.owner, f"Racer {i}") for i in range(6)))
    assert sorted(codes) == ["LIMIT_REACHED"] * 4 + ["OK"] * 2
    assert await _count(services, tenant) == MAX_STATUSES
