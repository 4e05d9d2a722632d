"""Repeated documents are parsed and validated once; broken ones are still reported."""

from __future__ import annotations

import pytest

from app.graphql import extensions
from tests.factories import error_codes, make_tenant

VIEWER = "{ viewer { role } }"


async def test_a_repeated_document_is_parsed_once(api, services):
    tenant = await make_tenant(services)
    query = VIEWER + f" # {tenant.slug}"  # a document no other test sends
    before = extensions._parse.cache_info()
    first = await api.data(query, as_=tenant.owner)
    second = await api.data(query, as_=tenant.owner)
    after = extensions._parse.cache_info()
    assert first == second == {"viewer": {"role": "OWNER"}}
    assert after.misses == before.misses + 1
    assert after.hits >= before.hits + 1


@pytest.mark.parametrize(
    ("query", "said"),
    [("{ viewer { role }", "Syntax Error"), ("{ viewer { nope } }", "nope")],
    ids=["does-not-parse", "invalid"],
)
async def test_a_broken_document_is_reported_every_time(api, services, query, said):
    tenant = await make_tenant(services)
    for _ in range(2):
        body = await api(query, as_=tenant.owner)
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert said in body["errors"][0]["message"]


async def test_large_documents_are_answered_but_not_kept(api, services):
    tenant = await make_tenant(services)
    padding = "#" + "x" * (extensions.MAX_CACHED_DOCUMENT + 10) + "\n"
    query = padding + VIEWER
    before = extensions._parse.cache_info()
    for _ in range(2):
        assert await api.data(query, as_=tenant.owner) == {"viewer": {"role": "OWNER"}}
    after = extensions._parse.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)


async def test_a_repeated_document_is_validated_once(api, services):
    tenant = await make_tenant(services)
    query = VIEWER + f" # validated {tenant.slug}"
    before = extensions._validate.cache_info()
    await api.data(query, as_=tenant.owner)
    await api.data(query, as_=tenant.owner)
    after = extensions._validate.cache_info()
    assert after.misses == before.misses + 1 and after.hits >= before.hits + 1
