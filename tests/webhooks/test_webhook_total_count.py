"""webhookEndpoints and webhookDeliveries { totalCount }: what the arguments match across
all pages (a delivery's endpoint and status included), for the account's administrators
only, counted in one statement only when selected."""

from __future__ import annotations

import pytest

from app.access import Role
from app.graphql.ids import decode_any
from app.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.connections import statements_of, walk
from tests.factories import error_codes, make_member, make_tenant, update_row
from tests.webhooks.test_webhooks import PING, create, settings

__all__ = ["settings"]  # the fixture, used by name

ENDPOINTS = """query($first: Int!, $after: String) {
  webhookEndpoints(first: $first, after: $after) {
    totalCount edges { node { id } } pageInfo { hasNextPage endCursor }
  }
}"""
DELIVERIES = """query($first: Int!, $after: String, $endpoint: ID,
                      $status: WebhookDeliveryStatus) {
  webhookDeliveries(first: $first, after: $after, endpointId: $endpoint, status: $status) {
    totalCount edges { node { id } } pageInfo { hasNextPage endCursor }
  }
}"""


async def _endpoints_with_pings(api, tenant, pings: list[int]) -> tuple[list[str], list[str]]:
    """An endpoint per item of ``pings``, pinged that many times; the endpoints and the
    deliveries, the deliveries' statuses spread over every status."""
    endpoints, deliveries = [], []
    for n, count in enumerate(pings):
        made = await create(api, tenant.owner, f"https://93.184.215.14/{n}")
        endpoint = made["webhookEndpoint"]["id"]
        endpoints.append(endpoint)
        for _ in range(count):
            ping = await api.data(PING, {"id": endpoint}, as_=tenant.owner)
            deliveries.append(ping["webhookEndpointPing"]["delivery"]["id"])
    return endpoints, deliveries


async def _spread_statuses(services, deliveries: list[str]) -> None:
    statuses = list(DeliveryStatus)
    for i, delivery in enumerate(deliveries):
        _, pk = decode_any(delivery)
        await update_row(services, WebhookDelivery, pk, status=statuses[i % len(statuses)])


async def test_total_count_is_what_the_pages_walk_with_every_filter(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    endpoints, deliveries = await _endpoints_with_pings(api, tenant, [4, 0, 3])
    await _spread_statuses(services, deliveries)
    other = await make_tenant(services)
    theirs, their_deliveries = await _endpoints_with_pings(api, other, [2])
    for member in (tenant.owner, admin):
        seen, total = await walk(api, member, ENDPOINTS, "webhookEndpoints")
        assert total == len(seen) == 3 and seen == endpoints
        for endpoint in (None, *endpoints, *theirs):
            for status in (None, *(s.name for s in DeliveryStatus)):
                seen, total = await walk(
                    api, member, DELIVERIES, "webhookDeliveries", endpoint=endpoint,
                    status=status,
                )
                assert total == len(seen), (endpoint, status, seen)
                if endpoint in theirs:
                    assert total == 0
        everything, total = await walk(api, member, DELIVERIES, "webhookDeliveries")
        assert total == 7 and set(everything) == set(deliveries)
    assert (await walk(api, other.owner, ENDPOINTS, "webhookEndpoints"))[1] == 1
    assert (await walk(api, other.owner, DELIVERIES, "webhookDeliveries"))[1] == 2
    assert (
        await walk(api, other.owner, DELIVERIES, "webhookDeliveries", endpoint=endpoints[0])
    )[1] == 0


@pytest.mark.parametrize("role", [Role.GUEST, Role.VIEWER, Role.EDITOR])
async def test_members_below_administrator_are_refused_the_counts(api, services, role):
    tenant = await make_tenant(services)
    await _endpoints_with_pings(api, tenant, [1])
    member = await make_member(services, tenant, role)
    for root in ("webhookEndpoints", "webhookDeliveries"):
        body = await api(f"{{ {root} {{ totalCount }} }}", as_=member)
        assert error_codes(body) == ["FORBIDDEN"], (root, body)
        owner = await api.data(f"{{ {root} {{ totalCount }} }}", as_=tenant.owner)
        assert owner[root]["totalCount"] == 1


@pytest.mark.parametrize(
    "root", ["webhookEndpoints", "webhookDeliveries", 'webhookDeliveries(status: PENDING)']
)
async def test_total_count_costs_one_statement_only_when_selected(api, services, root):
    tenant = await make_tenant(services)
    await _endpoints_with_pings(api, tenant, [2, 1])
    page = f"{{ {root} {{ edges {{ node {{ id }} }} }} }}"
    page_and_count = f"{{ {root} {{ edges {{ node {{ id }} }} totalCount }} }}"
    await api(page, as_=tenant.owner)
    await api(page_and_count, as_=tenant.owner)
    plain = await statements_of(services, api, tenant.owner, page)
    counted = await statements_of(services, api, tenant.owner, page_and_count)
    assert len(counted) == len(plain) + 1, (plain, counted)
    assert not any("count(" in q.lower() for q in plain), plain
    [count] = [q for q in counted if q not in plain]
    assert "count(" in count.lower() and "webhook_" in count, count
