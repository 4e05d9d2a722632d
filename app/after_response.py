"""Work a request leaves for after its answer has been sent.

Some answers must not depend on work that only some requests do: asking for a password
reset answers the same, in the same time, whether or not the email has a login, so the
look-up and the link are made after the answer. ``defer`` queues a job for the current
request; ``AfterResponseMiddleware`` runs the queue once the response is sent (each job
in its own transaction; a failure is logged, never answered).

A websocket has no response to wait for, and may stay open for hours: a job deferred by
one of its operations (an API key's use, recorded when a subscription authenticates) runs
at once as a task of its own, beside the operation, never inside its transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

log = logging.getLogger("roster.after_response")

Job = Callable[[], Awaitable[None]]
_queue: ContextVar[list[Job] | None] = ContextVar("roster_after_response", default=None)
_on_socket: ContextVar[bool] = ContextVar("roster_after_response_socket", default=False)
_running: set[asyncio.Task] = set()  # jobs of websockets under way (held until done)


def defer(job: Job) -> bool:
    """Queue ``job`` for after the current response (over a websocket: start it now);
    False outside a request (the caller then does the work itself)."""
    queue = _queue.get()
    if queue is not None:
        queue.append(job)
        return True
    if _on_socket.get():
        task = asyncio.get_running_loop().create_task(_run(job))
        _running.add(task)
        task.add_done_callback(_running.discard)
        return True
    return False


async def settle() -> None:
    """Waits for the websockets' jobs under way (a server stopping: before its database
    goes)."""
    while _running:
        await asyncio.gather(*list(_running), return_exceptions=True)


async def _run(job: Job) -> None:
    try:
        await job()
    except Exception:
        log.exception("work after the response failed")


class AfterResponseMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            on_socket = _on_socket.set(True)
            try:
                return await self.app(scope, receive, send)
            finally:
                _on_socket.reset(on_socket)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        queue: list[Job] = []
        token = _queue.set(queue)
        try:
            await self.app(scope, receive, send)
        finally:
            _queue.reset(token)
            while queue:
                await _run(queue.pop(0))
