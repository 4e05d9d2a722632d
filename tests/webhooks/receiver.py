"""A real HTTP receiver on loopback for webhook tests: it verifies every request with the
Standard Webhooks library and answers as the test tells it."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from dataclasses import dataclass, field

import uvicorn
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.factories import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    payload: dict | None  # parsed when the signature verified with one of ``secrets``
    verified_with: list[str]


@dataclass
class Receiver:
    port: int
    secrets: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    status: int = 200
    answer: str = "thanks"
    hold: asyncio.Event | None = None  # when set, requests wait for it before answering
    refused_types: set[str] = field(default_factory=set)  # answered 400 whatever ``status``
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    inflating: int = 0  # when set, the answer is this many bytes of "a", gzipped
    echo: bool = False  # when set, the answer is the request's body

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/roster"

    async def handle(self, request: Request):
        body = await request.body()
        headers = dict(request.headers)
        verified = []
        payload = None
        for secret in self.secrets:
            try:
                payload = Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            verified.append(secret)
        self.received.append(Received(headers, body, payload, verified))
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        if payload is not None and payload.get("type") in self.refused_types:
            return PlainTextResponse("not this one", status_code=400)
        if self.inflating:
            packed = gzip.compress(b"a" * self.inflating, compresslevel=9)
            return Response(packed, status_code=self.status, headers={"content-encoding": "gzip"})
        if self.echo:
            return Response(body, status_code=self.status, media_type="application/json")
        return PlainTextResponse(self.answer, status_code=self.status)

    @property
    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]

    @property
    def payloads(self) -> list[dict]:
        assert all(r.payload is not None for r in self.received), "a signature did not verify"
        return [r.payload for r in self.received if r.payload is not None]


@contextlib.asynccontextmanager
async def receiving():
    receiver = Receiver(free_port())
    app = Starlette(routes=[Route("/hooks/roster", receiver.handle, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=receiver.port, lifespan="off", log_level="error")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(1000):  # uvicorn says it has started only by this flag
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        server.should_exit = True
        await task
