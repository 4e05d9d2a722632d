"""The only names Roster imports from strawberry's modules that are not its documented API.

Everything else goes through strawberry's public extension points (``SchemaExtension``,
the view's hooks). These two have no public equivalent:

- ``validate_document``: validation exactly as strawberry runs it (graphql-core's rules,
  the schema's own, then strawberry's MaybeNull and OneOf rules), for ``DocumentCache``
  to validate each distinct document once and keep the answer;
- ``InvalidOperationTypeError``: what strawberry raises for an operation the request's
  method may not run (a mutation sent with GET), which the view answers with 405.

They are pinned to the strawberry releases they were checked against
(``TESTED_STRAWBERRY``); ``tests/graphql/test_strawberry_internals.py`` fails on any
other release until they have been checked again.
"""

from __future__ import annotations

from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.schema.schema import validate_document

# (lowest, first not checked): releases these imports were checked against.
TESTED_STRAWBERRY = ((0, 341, 0), (0, 342, 0))

__all__ = ["TESTED_STRAWBERRY", "InvalidOperationTypeError", "validate_document"]
