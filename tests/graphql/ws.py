"""A graphql-transport-ws client over a real websocket (the ``websockets`` library)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

PROTOCOL = "graphql-transport-ws"


class WsClient:
    def __init__(self, ws):
        self.ws = ws
        self._ids = itertools.count(1)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, base_url: str, *, origin: str | None = None):
        url = base_url.replace("http://", "ws://") + "/graphql"
        headers = {"Origin": origin} if origin else None
        async with connect(url, subprotocols=[PROTOCOL], additional_headers=headers) as ws:
            yield cls(ws)

    async def send(self, message: dict) -> None:
        await self.ws.send(json.dumps(message))

    async def init(self, member=None, payload: dict | None = None) -> dict:
        if payload is None:
            payload = {}
            if member is not None:
                payload = {"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm}
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive()

    async def subscribe(self, query: str, variables: dict | None = None) -> str:
        op_id = str(next(self._ids))
        await self.send(
            {"id": op_id, "type": "subscribe",
             "payload": {"query": query, "variables": variables or {}}}
        )
        return op_id

    async def receive(self, seconds: float = 10) -> dict:
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), seconds)
            assert isinstance(frame, str), "the protocol's messages are text frames"
            message = json.loads(frame)
            if message.get("type") == "ping":
                await self.send({"type": "pong"})
                continue
            return message

    async def next(self, seconds: float = 10) -> dict:
        """The next ``next`` message's payload (anything else fails the test)."""
        message = await self.receive(seconds)
        assert message["type"] == "next", message
        return message["payload"]

    async def drain(self, quiet: float = 0.5) -> list[dict]:
        """Every message until none comes for ``quiet`` seconds."""
        found = []
        while True:
            try:
                found.append(await self.receive(quiet))
            except TimeoutError:
                return found

    async def closed(self, seconds: float = 10) -> int | None:
        """Waits for the server to close the socket; its close code."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.wait_for(self.ws.recv(), seconds)
        return self.ws.close_code
