"""Migration 0036: webhook endpoints learn the API key they were set up through
(``created_by_token_id``); endpoints made before it have none and are vouched for by their
member alone, so they go on receiving the account's changes. It goes down and up again."""

from __future__ import annotations

from tests.db.test_review_migration_0008 import alembic, sql
from tests.factories import make_tenant
from tests.webhooks.test_webhooks import (
    ENDPOINT_PERSONAL,
    STAFF_UPDATE,
    create,
    deliveries,
    settings,  # noqa: F401  (the fixture: private addresses allowed, no background sending)
)

COLUMNS = "SELECT * FROM webhook_endpoints ORDER BY id"


async def test_0036_keeps_endpoints_made_before_it_receiving(database_url, services, api):
    tenant = await make_tenant(services)
    made = await create(api, tenant.owner, "https://93.184.215.14/hook")
    endpoint = made["webhookEndpoint"]["id"]

    await alembic("downgrade", database_url, "0035")
    try:
        [before] = await sql(database_url, COLUMNS)
        assert "created_by_token_id" not in before
    finally:
        await alembic("upgrade", database_url, "head")

    [after] = await sql(database_url, COLUMNS)
    assert after["created_by_token_id"] is None
    assert {k: v for k, v in after.items() if k != "created_by_token_id"} == before
    shown = await api.data(ENDPOINT_PERSONAL, {"id": endpoint}, as_=tenant.owner)
    assert shown["node"] == {"includesPersonalData": True, "receivesEvents": True}
    update_ = {"id": tenant.owner.staff_id, "title": "After 0036"}
    body = await api.data(STAFF_UPDATE, {"input": update_}, as_=tenant.owner)
    assert body["staffUpdate"]["userErrors"] == []
    [queued] = await deliveries(api, tenant.owner, endpoint)
    assert queued["eventType"] == "staff.updated"
