"""The only names Roster imports from strawberry's modules that are not its documented API.

Everything else goes through strawberry's public extension points (``SchemaExtension``,
the view's hooks). These have no public equivalent:

- ``validate_document``: validation exactly as strawberry runs it (graphql-core's rules,
  the schema's own, then strawberry's MaybeNull and OneOf rules), for ``DocumentCache``
  to validate each distinct document once and keep the answer;
- ``InvalidOperationTypeError``: what strawberry raises for an operation the request's
  method may not run (a mutation sent with GET), which the view answers with 405;
- ``BaseGraphQLTransportWSHandler``: the graphql-transport-ws handler, which the view's
  ``graphql_transport_ws_handler_class`` names; ``app.graphql.socket`` subclasses it to give
  each operation a context of its own (its ``schema``, ``context`` and ``websocket``);
- ``WebSocketDisconnected``: what a websocket adapter raises when the client has gone
  (``app.graphql.socket.TextFrames``, which sends text frames);
- ``CannotGetOperationTypeError``: what strawberry raises, before execution, for a document
  that holds no operation of the name sent; with ``MissingQueryError`` (public, for an
  empty query) and ``InvalidOperationTypeError``, the refusals
  ``RequestLifecycle.on_stream_result`` shows a socket's client as its own error. The
  handler's ``_get_pre_execution_close_reason`` (which closes the socket for those and for
  syntax errors) is overridden by ``app.graphql.socket.RosterTransportWS``, as is its
  ``handle_subscribe`` (to refuse an operation past the connection's cap before its task
  starts; it reads the handler's ``operations`` and ``connection_acknowledged``).

They are pinned to the strawberry releases they were checked against
(``TESTED_STRAWBERRY``); ``tests/graphql/test_strawberry_internals.py`` fails on any
other release until they have been checked again.
"""

from __future__ import annotations

from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import validate_document
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

# (lowest, first not checked): releases these imports were checked against.
TESTED_STRAWBERRY = ((0, 341, 0), (0, 342, 0))

__all__ = [
    "TESTED_STRAWBERRY",
    "BaseGraphQLTransportWSHandler",
    "CannotGetOperationTypeError",
    "InvalidOperationTypeError",
    "WebSocketDisconnected",
    "validate_document",
]
