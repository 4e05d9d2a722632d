"""Repeated documents are parsed and validated once; broken ones are still reported."""

from __future__ import annotations

import gc
import weakref

import pytest
from graphql import parse

from app.graphql import extensions
from app.graphql.limits import operation_summary
from app.graphql.schema import KEPT_SCHEMAS, build_schema
from tests.factories import error_codes, make_tenant

VIEWER = "{ viewer { role } }"


def _counted(monkeypatch, module, name: str) -> list:
    """The calls of ``module.name`` from now on (it still runs), each as its arguments."""
    calls: list = []
    real = getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


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


async def test_a_large_document_is_parsed_once_even_when_it_does_not_parse(
    api, services, monkeypatch
):
    """Past MAX_CACHED_DOCUMENT, a document is strawberry's to parse, once: a large one that
    does not parse (a comment of any length costs parsing, not tokens) is not parsed a
    second time to report its error."""
    import graphql.language.parser as parser

    tenant = await make_tenant(services)
    padding = "#" + "x" * (extensions.MAX_CACHED_DOCUMENT + 10) + "\n"
    parsed = _counted(monkeypatch, parser.Parser, "parse_document")
    body = await api(padding + "{ viewer { role }", as_=tenant.owner)
    assert error_codes(body) == ["BAD_USER_INPUT"] and "Syntax Error" in body["errors"][0]["message"]
    assert len(parsed) == 1
    parsed.clear()
    assert await api.data(padding + VIEWER, as_=tenant.owner) == {"viewer": {"role": "OWNER"}}
    assert len(parsed) == 1


async def test_a_large_document_of_several_operations_needs_an_operation_name(api, services):
    tenant = await make_tenant(services)
    padding = "#" + "x" * (extensions.MAX_CACHED_DOCUMENT + 10) + "\n"
    document = padding + "query A { __typename } query B { viewer { role } }"
    body = await api(document, as_=tenant.owner)
    assert body["errors"][0]["message"] == (
        "Must provide operation name if query contains multiple operations."
    )
    assert error_codes(body) == ["BAD_USER_INPUT"] and body.get("data") is None


async def test_a_mutation_over_get_is_refused_without_being_validated(
    client, services, monkeypatch
):
    """GET runs queries only: a mutation sent by GET is refused (405) before anything
    validates it, as strawberry refuses it before its validation."""
    tenant = await make_tenant(services)
    validated = _counted(monkeypatch, extensions, "validate_document")
    auth = {"Authorization": f"Bearer {tenant.owner.token}", "X-Auth-Realm": tenant.owner.realm}
    query = f"mutation {{ logout {{ ok }} }} # {tenant.slug}"
    response = await client.get("/graphql", params={"query": query}, headers=auth)
    assert response.status_code == 405
    assert validated == []


async def test_a_repeated_document_is_not_validated_again_by_anyone(
    api, services, monkeypatch
):
    """Once validated, a document is not validated again, by the cache or by strawberry
    (which validates whatever the cache leaves without its errors: none, not no list)."""
    import strawberry.schema.schema as strawberry_schema

    tenant = await make_tenant(services)
    query = VIEWER + f" # once {tenant.slug}"
    assert await api.data(query, as_=tenant.owner) == {"viewer": {"role": "OWNER"}}
    calls = _counted(monkeypatch, strawberry_schema, "validate")
    for _ in range(2):
        assert await api.data(query, as_=tenant.owner) == {"viewer": {"role": "OWNER"}}
    assert calls == []


async def test_a_repeated_document_is_validated_once(api, services, monkeypatch):
    tenant = await make_tenant(services)
    query = VIEWER + f" # validated {tenant.slug}"
    validated = _counted(monkeypatch, extensions, "validate_document")
    assert await api.data(query, as_=tenant.owner) == await api.data(query, as_=tenant.owner)
    assert len(validated) == 1


def test_a_schema_no_longer_served_is_freed_with_what_was_kept_for_it():
    """What is kept per document (validation, cost summaries, plans) is kept per schema,
    and does not keep the schema alive: a process that builds schemas for more settings
    than it keeps (``KEPT_SCHEMAS``) frees the oldest, with what was kept for it. (That
    apps with the same settings share one: tests/graphql/test_schema_per_app.py.)"""
    query = "{ viewer { role } staff(first: 1) { totalCount } }"
    built = build_schema(max_tokens=2999)  # settings no other test uses
    core = built._schema
    assert extensions._validate(core, query, (("max_tokens", 2999),), ()) == []
    assert operation_summary(core, query, parse(query), None) is not None
    prepared = built.hot_paths.document(query, None, parse(query))
    assert prepared is not None
    schema = weakref.ref(core)
    del built, core, prepared
    for tokens in range(KEPT_SCHEMAS):  # as many other settings as are kept
        build_schema(max_tokens=10 + tokens)
    gc.collect()
    assert schema() is None
