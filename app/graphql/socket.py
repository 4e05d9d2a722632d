"""GraphQL over a websocket (the graphql-transport-ws protocol, strawberry's handler).

- ``connection_init``'s payload carries the credentials HTTP carries in headers:
  ``Authorization: Bearer <token>`` (or ``X-Auth-Token``) and ``X-Auth-Realm``, names in
  any case. A connection whose credentials do not authenticate a member is closed with
  4403 before it is acknowledged; one that does not initialise in
  ``subscription_init_timeout_seconds`` is closed with 4408 (strawberry).
- Only subscriptions run over the socket: queries and mutations go over HTTP, where the
  request's unit of work, its time limit and its rate limits are (they get an error).
- Each operation gets a context of its own (its session, loaders and authentication),
  made from the connection's (its credentials): operations of one connection never share a
  session.
- Messages are text frames (``TextFrames``).
- Browsers' handshakes from an origin other than the server's own are refused unless the
  origin is in ``cors_origins`` (strawberry's ``allowed_origins``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter

from app.graphql.strawberry_internals import BaseGraphQLTransportWSHandler, WebSocketDisconnected

if TYPE_CHECKING:
    from app.graphql.context import Context


@dataclass
class SocketState:
    """What one connection holds: its live subscriptions (capped per connection)."""

    subscriptions: int = 0


def credentials_of(params: dict) -> tuple[str | None, str | None]:
    """Token and realm from a ``connection_init`` payload, read as HTTP headers are."""
    headers = {str(k).lower(): v for k, v in params.items() if isinstance(v, str)}
    token = headers.get("x-auth-token")
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            token = value.strip()
    return token, headers.get("x-auth-realm") or None


class _OperationContexts:
    """The schema as the handler uses it, giving each operation its own context."""

    def __init__(self, schema):
        self._schema = schema

    def __getattr__(self, name):
        return getattr(self._schema, name)

    async def stream(self, query, *args, context_value=None, **kwargs):
        context = context_value.for_operation(uuid.uuid4().hex)
        return await self._schema.stream(query, *args, context_value=context, **kwargs)


class TextFrames(ASGIWebSocketAdapter):
    """Messages go out as text frames, as the protocol requires (the view's JSON encoder
    makes bytes, which strawberry would send as binary frames: browsers' clients, and the
    graphql-ws reference client, refuse those)."""

    async def send_json(self, message) -> None:
        encoded = self.view.encode_json(message)
        text = encoded.decode() if isinstance(encoded, bytes) else encoded
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class RosterTransportWS(BaseGraphQLTransportWSHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.schema = cast(Any, _OperationContexts(self.schema))
        context = cast("Context", self.context)
        context.socket = SocketState()
        context.close_socket = self.close

    async def close(self, code: int, reason: str) -> None:
        await self.websocket.close(code=code, reason=reason)
