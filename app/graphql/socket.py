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
- A message the protocol does not allow (a frame that is not a JSON object, or holds NUL
  or a lone surrogate in any string, as over HTTP; a type that is not a string; a
  ``subscribe`` without a string id, an object payload, a string query, or with an
  operationName, variables or extensions of the wrong kind) closes the socket with 4400
  (``protocol_problem``). A document that does not parse or validate, or names no
  operation it holds, is an ``error`` message (BAD_USER_INPUT) for that operation only;
  the connection stays (strawberry would close it with 4400 for a syntax error).
- Browsers' handshakes from an origin other than the server's own are refused unless the
  origin is in ``cors_origins`` (strawberry's ``allowed_origins``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter

from app.graphql.request_body import BadRequestBody
from app.graphql.strawberry_internals import BaseGraphQLTransportWSHandler, WebSocketDisconnected
from app.graphql.subscriptions import limit_reached

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


@dataclass(frozen=True)
class Unreadable:
    """A text frame that is no message: not JSON, or holding characters no field accepts."""

    reason: str


_OPTIONAL_KINDS = {"operationName": str, "variables": dict, "extensions": dict}


def protocol_problem(message: object) -> str | None:
    """Why ``message`` is not a graphql-transport-ws message the server can act on (the
    socket is then closed with 4400), or None. Only what the handler reads is checked:
    documents themselves are checked as over HTTP (an ``error`` message)."""
    if isinstance(message, Unreadable):
        return message.reason
    if not isinstance(message, dict):
        return "A message must be a JSON object."
    kind = message.get("type")
    if not isinstance(kind, str):
        return "A message's type must be a string."
    if kind in ("subscribe", "complete"):
        op_id = message.get("id")
        if not isinstance(op_id, str) or not op_id:
            return f"A {kind} message needs a string id."
    if kind == "subscribe":
        payload = message.get("payload")
        if not isinstance(payload, dict):
            return "A subscribe message's payload must be an object."
        if not isinstance(payload.get("query"), str):
            return "A subscribe message's query must be a string."
        for name, expected in _OPTIONAL_KINDS.items():
            value = payload.get(name)
            if value is not None and not isinstance(value, expected):
                return f"A subscribe message's {name} must be {expected.__name__} or null."
    return None


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

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        """Each text frame decoded as a request body is (``decode_request_json``); one that
        cannot be read comes as ``Unreadable`` (strawberry knows only JSONDecodeError, and
        a NUL in a string would end the connection with a traceback)."""
        limit = getattr(self.view, "max_message_bytes", None)
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                try:
                    text = await self.ws.receive_text()
                except KeyError:  # a binary frame
                    yield Unreadable("WebSocket message type must be text")
                    continue
                # Before decoding: a message longer than a request body may be costs no
                # more than its refusal, counted in UTF-8 bytes as a body is (a character
                # is one to four; only a text that may be too long is encoded to count).
                if limit is not None and (
                    len(text) > limit
                    or (
                        len(text) * 4 > limit
                        and len(text.encode("utf-8", "surrogatepass")) > limit
                    )
                ):
                    yield Unreadable(f"The message is longer than {limit} bytes.")
                    continue
                try:
                    yield self.view.decode_json(text)
                except BadRequestBody as exc:
                    yield Unreadable(exc.message[:120])
        except WebSocketDisconnect:
            return

    async def send_json(self, message) -> None:
        encoded = self.view.encode_json(message)
        text = encoded.decode() if isinstance(encoded, bytes) else encoded
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


# Operations one connection may have in flight, per subscription it may hold: queries and
# mutations sent over the socket run beside its subscriptions.
IN_FLIGHT_PER_SUBSCRIPTION = 2


class RosterTransportWS(BaseGraphQLTransportWSHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.schema = cast(Any, _OperationContexts(self.schema))
        context = cast("Context", self.context)
        context.socket = SocketState()
        context.close_socket = self.close

    async def close(self, code: int, reason: str) -> None:
        await self.websocket.close(code=code, reason=reason)

    async def handle_message(self, message) -> None:
        if (problem := protocol_problem(message)) is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message) -> None:
        """Refuses an operation past ``IN_FLIGHT_PER_SUBSCRIPTION`` times the connection's
        subscriptions in flight on it before anything of it runs. The cap on
        subscriptions (``app.graphql.subscriptions``) is checked in the resolver, once the
        document has been parsed, validated and priced against the account's sizes: a
        stream of subscribe messages on one socket made the database do that for each,
        all at once."""
        context = cast("Context", self.context)
        cap = IN_FLIGHT_PER_SUBSCRIPTION * context.settings.subscriptions_per_connection
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and len(self.operations) >= cap
        ):
            refusal = limit_reached(
                f"This connection has {cap} operations in flight, as many as it may have."
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [refusal.formatted]}
            )
            return
        await super().handle_subscribe(message)

    @staticmethod
    def _get_pre_execution_close_reason(error) -> str | None:
        """Never close the connection for one operation's document: its errors are an
        ``error`` message (``RequestLifecycle.on_stream_result`` codes them)."""
        return None
