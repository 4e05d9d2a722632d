"""Open websockets per client, in each worker process.

A websocket costs the server a task and its buffers for as long as it stays open, whether or
not it holds a subscription: subscriptions are capped per connection, per member and per
account (``app.events.live``), but sockets themselves were not, so one client could hold
thousands open (each handshake may wait ``subscription_init_timeout_seconds`` before its
``connection_init``, and an acknowledged one may subscribe to nothing). So each client
address (counted as rate limits count it: an IPv6 client's /64) may hold at most
``websockets_per_client`` open at once; a handshake past that is refused (HTTP 403, as
uvicorn answers a websocket closed before it is accepted) until one of them closes.
"""

from __future__ import annotations

import logging
from collections import Counter

from app.security.client_address import limit_subject

log = logging.getLogger("roster.security")


class SocketsPerClient:
    """ASGI middleware: refuses a websocket handshake from a client that holds ``limit``
    open already. Place it after ``ClientAddressMiddleware`` (it counts the real client)."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit
        self.open: Counter[str] = Counter()
        self.told: set[str] = set()  # subjects logged as at the cap, until one closes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        subject = limit_subject(client[0]) if client else ""
        if self.open[subject] >= self.limit:
            if subject not in self.told:  # once, not at every retry of a client in a loop
                self.told.add(subject)
                log.warning("websocket refused: %s holds %d open", subject, self.limit)
            message = await receive()  # websocket.connect
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1008})
            return
        self.open[subject] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.told.discard(subject)
            self.open[subject] -= 1
            if not self.open[subject]:
                del self.open[subject]
