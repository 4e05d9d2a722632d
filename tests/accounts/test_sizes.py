"""The account's sizes the cost check reads: a count stops at the cap it is given, and the
check decides as the exact sizes would, without counting a large account's every row."""

import httpx
import pytest

from app.accounts.sizes import Size, sizes
from app.main import create_app
from app.services import Services
from tests.conftest import make_settings
from tests.factories import insert_staff_rows, make_tenant

CHAIN = "{ staffBySid(sid: 1) { reportingChain { id } } }"
WANTED = {Size.STAFF, Size.CUSTOM_VALUES, Size.PROJECTS_PER_STAFF}


async def _staff(services, tenant, count: int) -> None:
    await insert_staff_rows(
        services, tenant, [dict(first_name=f"F{i}", last_name=f"L{i}") for i in range(count)]
    )


async def test_a_count_stops_at_the_cap(services):
    tenant = await make_tenant(services)
    await _staff(services, tenant, 30)
    async with services.db.session() as session:
        exact = await sizes(session, WANTED, account_id=tenant.account_id, user_id=None)
        capped = await sizes(session, WANTED, account_id=tenant.account_id, user_id=None, cap=10)
        roomy = await sizes(session, WANTED, account_id=tenant.account_id, user_id=None, cap=99)
    assert exact[Size.STAFF] == 31  # the owner and 30
    assert capped == {**exact, Size.STAFF: 10}
    assert roomy == exact


async def test_the_cost_check_decides_as_with_exact_sizes(services, database_url):
    """The chain is bounded by the account's staff: over the limit on an account larger
    than it (said to cost "more than" the limit: the count stopped), answered on a smaller
    one."""
    small, large = await make_tenant(services), await make_tenant(services, seats=60)
    await _staff(services, small, 5)
    await _staff(services, large, 40)
    limited = Services.from_settings(make_settings(database_url, max_query_cost=20))
    try:
        transport = httpx.ASGITransport(app=create_app(limited.settings, services=limited))
        async with httpx.AsyncClient(transport=transport, base_url="http://roster.test") as c:
            answers = {}
            for name, tenant in (("small", small), ("large", large)):
                headers = {"Authorization": f"Bearer {tenant.owner.token}"}
                response = await c.post("/graphql", json={"query": CHAIN}, headers=headers)
                answers[name] = response.json()
    finally:
        await limited.close()
    assert "errors" not in answers["small"], answers["small"]
    [error] = answers["large"]["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "costs more than 20 (at most 20)" in error["message"], error


async def test_an_accounts_custom_values_are_counted_without_the_other_accounts(services):
    """The count of ``customFieldValues``'s bound reads the account's own values by index
    (it once scanned the table: every account's values)."""
    if services.db.dialect != "sqlite":
        pytest.skip("SQLite's query plan")
    import sqlite3

    from app.db.statements import StatementCounter

    tenant = await make_tenant(services)
    with StatementCounter(services.db.engine) as sent:
        async with services.db.session() as session:
            await sizes(session, {Size.CUSTOM_VALUES}, account_id=tenant.account_id, user_id=None)
    [statement] = sent.statements
    connection = sqlite3.connect(services.db.engine.url.database)
    try:
        plan = connection.execute(
            "EXPLAIN QUERY PLAN " + statement, [None] * statement.count("?")
        ).fetchall()
    finally:
        connection.close()
    details = " / ".join(row[-1] for row in plan)
    assert "custom_field_values" in details, details
    assert "SCAN custom_field_values" not in details, details
