"""Introspection's answers are kept: the same document, operation and variables get the
same bytes without graphql-core walking the schema again; anything that reads more than
the schema, or sends other variables, is answered afresh."""

from __future__ import annotations

import pytest
from graphql import get_introspection_query

from tests.factories import make_tenant

TYPE_QUERY = "query T($name: String!) { __type(name: $name) { name kind } }"


def _kept(app):
    return app.state.graphql.schema.kept_introspection


async def _walks_the_schema(monkeypatch) -> list:
    """Records each time graphql-core resolves ``__schema``."""
    from graphql.type import introspection

    walked: list = []
    field = introspection.SchemaMetaFieldDef
    original = field.resolve

    def counted(source, info, **kwargs):
        walked.append(1)
        return original(source, info, **kwargs)

    monkeypatch.setattr(field, "resolve", counted)
    return walked


async def test_the_standard_introspection_is_answered_once_then_kept(api, app, monkeypatch):
    walked = await _walks_the_schema(monkeypatch)
    query = get_introspection_query(descriptions=True)
    first = await api.raw(query)
    second = await api.raw(query)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert first.json()["data"]["__schema"]["queryType"]["name"] == "Query"
    assert walked == [1]  # graphql-core walked the schema for the first request only


async def test_variables_are_part_of_what_is_kept(api):
    staff = await api.data(TYPE_QUERY, {"name": "Staff"})
    account = await api.data(TYPE_QUERY, {"name": "Account"})
    missing = await api.data(TYPE_QUERY, {"name": "NoSuchType"})
    assert staff["__type"] == {"name": "Staff", "kind": "OBJECT"}
    assert account["__type"] == {"name": "Account", "kind": "OBJECT"}
    assert missing["__type"] is None
    assert (await api.data(TYPE_QUERY, {"name": "Staff"})) == staff


async def test_a_document_that_reads_data_beside_the_schema_is_never_kept(api, app, services):
    """The viewer differs per caller: a document naming it with __schema is answered for
    each caller, never from another's answer."""
    one, two = await make_tenant(services), await make_tenant(services)
    query = "{ __schema { queryType { name } } viewer { user { email } } }"
    first = await api.data(query, as_=one.owner)
    second = await api.data(query, as_=two.owner)
    assert first["viewer"]["user"]["email"] != second["viewer"]["user"]["email"]
    assert all(query not in key for key in _kept(app)._kept)


@pytest.mark.parametrize("size", [2])
async def test_the_kept_answers_are_bounded(api, app, size, monkeypatch):
    monkeypatch.setattr(_kept(app), "size", size)
    names = ["Staff", "Account", "Invitation", "CustomField"]
    for name in names:
        await api.data(f'{{ __type(name: "{name}") {{ name }} }}')
    assert len(_kept(app)._kept) == size
    assert [key[0] for key in _kept(app)._kept] == [
        f'{{ __type(name: "{name}") {{ name }} }}' for name in names[-size:]
    ]
