"""Interactive requests first: long jobs of the server (an export streaming 100,000 staff)
read their next batch when no interactive request is being served, or after waiting
``Foreground.longest_wait`` for one.

The event loop has no priorities: a batch read in the middle of a page's request (its
statement, the driver's rows, handing them to the export worker) runs between the
page's own steps and delays its answer. A page's requests come with gaps between them (a
client's turn, the network); a job that waits for those gaps takes the loop when nobody
else needs it. The wait is bounded, so a job still progresses under constant load: one
batch per ``longest_wait`` at worst (with 100 staff a batch and 20 ms, 5,000 rows a
second).

``ForegroundMiddleware`` counts the HTTP requests in flight; a request that turns into a
long job (the export routes) leaves the count with ``as_background`` before it starts.
Websocket connections are not counted: they are open for as long as a client stays.
"""

from __future__ import annotations

import asyncio

# At most this long a job's batch waits for the interactive requests of the moment.
LONGEST_WAIT = 0.02


class Foreground:
    """The number of interactive requests in flight, and waiting for none."""

    def __init__(self, longest_wait: float = LONGEST_WAIT):
        self.longest_wait = longest_wait
        self.in_flight = 0
        self.begun = 0  # interactive requests begun so far
        self._waiting: list[asyncio.Future] = []

    def enter(self) -> Presence:
        self.in_flight += 1
        self.begun += 1
        return Presence(self)

    def _leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self._waiting:
            waiting, self._waiting = self._waiting, []
            for future in waiting:
                if not future.done():
                    future.set_result(None)

    async def quiet(self) -> None:
        """Returns once no interactive request is in flight, or after ``longest_wait``."""
        if self.in_flight == 0:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        try:
            await asyncio.wait_for(future, self.longest_wait)
        except TimeoutError:
            pass
        finally:
            if future in self._waiting:
                self._waiting.remove(future)


class Presence:
    """One request's place in the count; left once, whichever comes first: the request
    turning into a job (``as_background``) or its end."""

    __slots__ = ("_foreground",)

    def __init__(self, foreground: Foreground):
        self._foreground: Foreground | None = foreground

    def leave(self) -> None:
        if self._foreground is not None:
            self._foreground._leave()
            self._foreground = None


def as_background(scope) -> None:
    """The request of ``scope`` is a long job from now on: it no longer counts as
    interactive (nothing happens outside ``ForegroundMiddleware``)."""
    presence = scope.get("state", {}).get("foreground")
    if presence is not None:
        presence.leave()


class ForegroundMiddleware:
    """Counts every HTTP request as interactive while it is served (``Foreground``)."""

    def __init__(self, app, foreground: Foreground):
        self.app = app
        self.foreground = foreground

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        presence = self.foreground.enter()
        scope.setdefault("state", {})["foreground"] = presence
        try:
            await self.app(scope, receive, send)
        finally:
            presence.leave()
