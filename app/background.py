"""Work the server does beside requests: relay email, and record lapsed invitations."""

from __future__ import annotations

import asyncio
import logging

from app.audit import changes
from app.events import service as events
from app.invitations.service import sweep_expired

log = logging.getLogger("roster.background")


async def sweep_once(db) -> int:
    async with db.session(write=True) as session:
        count = await sweep_expired(session)
        await events.record(session, changes.take(session))
        await session.commit()
        return count


async def run_background(services, stop: asyncio.Event, poll_seconds: float) -> None:
    while not stop.is_set():
        for job in (services.relay.run_once, lambda: sweep_once(services.db)):
            try:
                await job()
            except Exception:
                log.exception("background job failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
        except TimeoutError:
            pass
