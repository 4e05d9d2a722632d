"""A compiled plan answers a root field only while nothing but its resolver stands between
a request and its value, as for every other field it answers (``hot._plain``): a
permission class or a field extension put on ``staff``, ``staffBySid`` or ``node`` later
sends their documents to graphql-core, which honours it, instead of being passed over."""

from __future__ import annotations

import pytest
from graphql import parse
from graphql.execution.values import get_variable_values
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission

from app.graphql.schema import build_schema


class Deny(BasePermission):
    message = "No."

    def has_permission(self, source, info, **kwargs) -> bool:
        return False


class Audited(FieldExtension):
    def resolve(self, next_, source, info, **kwargs):
        return next_(source, info, **kwargs)


ROOTS = {
    "staff": "{ staff { nodes { id } } }",
    "staffBySid": "{ staffBySid(sid: 1) { id } }",
    "node": '{ node(id: "U3RhZmY6MQ") { id } }',
    "viewer": "{ viewer { role } }",
}


def _plan(hot, query: str):
    document = hot.document(query, None, parse(query))
    assert document is not None
    return hot.plan_for(document, get_variable_values(hot.schema, (), {}))


@pytest.mark.parametrize("root", list(ROOTS))
@pytest.mark.parametrize("attribute", ["permission_classes", "extensions"])
def test_a_root_with_a_permission_or_an_extension_is_graphql_cores(monkeypatch, root, attribute):
    # each build has plans of its own over the types built once per process
    assert _plan(build_schema().hot_paths, ROOTS[root]) is not None  # as the schema stands
    hot = build_schema().hot_paths
    definition = hot.query_type.fields[root].extensions["strawberry-definition"]
    added = [Deny] if attribute == "permission_classes" else [Audited()]
    monkeypatch.setattr(definition, attribute, added)
    assert _plan(hot, ROOTS[root]) is None, f"{root}: compiled despite its {attribute}"
