"""Every app serves the schema's types built once per process and settings, while what an
app learns as it runs (compiled plans, kept introspection answers) stays its own."""

from __future__ import annotations

import httpx
from graphql import get_introspection_query

from app.graphql.limits import QueryLimits
from app.graphql.schema import build_schema
from app.main import create_app
from tests.conftest import make_settings
from tests.documents import PAGE_QUERY
from tests.factories import Api, make_tenant


def test_the_types_are_built_once_for_the_same_settings():
    first, second = build_schema(), build_schema()
    assert first._schema is second._schema
    assert first.hot_paths is not second.hot_paths
    assert first.kept_introspection is not second.kept_introspection
    # other settings, other rules: built apart
    assert build_schema(production=True)._schema is not first._schema
    assert build_schema(limits=QueryLimits(max_depth=3))._schema is not first._schema
    assert build_schema(max_tokens=10)._schema is not first._schema


async def test_two_apps_keep_their_own_plans_and_introspection(database_url, services):
    settings = make_settings(database_url)
    one, two = create_app(settings, services=services), create_app(settings, services=services)
    tenant = await make_tenant(services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=one), base_url="http://roster.test"
    ) as client:
        api = Api(client)
        await api.data(PAGE_QUERY, {"first": 5}, as_=tenant.owner)
        await api.data(get_introspection_query())
    learned = one.state.graphql.schema
    fresh = two.state.graphql.schema
    assert learned.hot_paths.held > 0 and fresh.hot_paths.held == 0
    assert learned.kept_introspection._kept and not fresh.kept_introspection._kept
