"""Work a request leaves for after its answer has been sent.

Some answers must not depend on work that only some requests do: asking for a password
reset answers the same, in the same time, whether or not the email has a login, so the
look-up and the link are made after the answer. ``defer`` queues a job for the current
request; ``AfterResponseMiddleware`` runs the queue once the response is sent (each job
in its own transaction; a failure is logged, never answered).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

log = logging.getLogger("roster.after_response")

Job = Callable[[], Awaitable[None]]
_queue: ContextVar[list[Job] | None] = ContextVar("roster_after_response", default=None)


def defer(job: Job) -> bool:
    """Queue ``job`` for after the current response; False outside a request (the caller
    then does the work itself)."""
    queue = _queue.get()
    if queue is None:
        return False
    queue.append(job)
    return True


class AfterResponseMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        queue: list[Job] = []
        token = _queue.set(queue)
        try:
            await self.app(scope, receive, send)
        finally:
            _queue.reset(token)
            while queue:
                job = queue.pop(0)
                try:
                    await job()
                except Exception:
                    log.exception("work after the response failed")
