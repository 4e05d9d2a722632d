"""Answers to introspection, kept.

GraphiQL, code generators and schema tools send an introspection query each time they
load; graphql-core answers it field by field over the whole schema (for Roster's, about
65 ms of CPU and 230 KB of JSON) and the answer is the same every time: the schema does
not change while the process runs and nothing in it depends on who asks. So the data of an
operation whose root fields are all introspection (``__schema``, ``__type``,
``__typename``) is kept after graphql-core has answered it once without errors, by the
document's text, the operation's name and the variables, and given to the next request
that sends the same (``CompiledExecution``, app.graphql.hot, supplies it as the execution
result, after parsing, validation and the cost limit, as it does a plan's).

A production server refuses introspection in validation, before this runs, so it keeps
nothing. At most ``KEPT`` answers of documents of at most ``MAX_DOCUMENT`` characters are
kept (about 1.5 MiB each as Python objects): the standard queries of a few tools.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from graphql import DocumentNode, FieldNode, OperationDefinitionNode

KEPT = 4
MAX_DOCUMENT = 16 * 1024
ROOTS = frozenset({"__schema", "__type", "__typename"})


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def reads_only_the_schema(document: DocumentNode, operation_name: str | None) -> bool:
    """Whether every root field of the operation is introspection (fragments at the root
    are not looked into: such a document is answered by graphql-core each time)."""
    operation = _operation(document, operation_name)
    if operation is None:
        return False
    selections = operation.selection_set.selections
    return bool(selections) and all(
        isinstance(s, FieldNode) and s.name.value in ROOTS and not s.directives
        for s in selections
    )


class KeptIntrospection:
    """The data of introspection answers, by (document, operation name, variables)."""

    def __init__(self, size: int = KEPT):
        self.size = size
        self._kept: OrderedDict[tuple, Any] = OrderedDict()

    def key(
        self, query: str, operation_name: str | None, document: DocumentNode, variables
    ) -> tuple | None:
        """The key of a document that reads only the schema, or None."""
        if len(query) > MAX_DOCUMENT or ("__schema" not in query and "__type" not in query):
            return None
        if not reads_only_the_schema(document, operation_name):
            return None
        try:
            frozen = json.dumps(variables or {}, sort_keys=True)
        except (TypeError, ValueError):
            return None
        return (query, operation_name, frozen)

    def get(self, key: tuple) -> Any | None:
        data = self._kept.get(key)
        if data is not None:
            self._kept.move_to_end(key)
        return data

    def keep(self, key: tuple, data: Any) -> None:
        self._kept[key] = data
        self._kept.move_to_end(key)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)
