"""Work the server does beside requests: relay email, and record lapsed invitations.

Every server process runs this loop; the work is done once across them. The relay claims
each message with a lease of its own (``app.email.relay``); the sweep runs in whichever
process first takes its named lease (``app.ops.leases``) once the previous sweep's lease
has lapsed, so it runs about once per ``invitation_sweep_seconds`` however many processes
there are.
"""

from __future__ import annotations

import asyncio
import logging

from app.audit import changes
from app.events import service as events
from app.invitations.service import sweep_expired
from app.ops import leases

log = logging.getLogger("roster.background")

SWEEP_LEASE = "invitations.expiry_sweep"


async def sweep_once(db) -> int:
    async with db.session(write=True) as session:
        count = await sweep_expired(session)
        await events.record(session, changes.take(session))
        await session.commit()
        return count


async def sweep_if_due(db, every_seconds: float) -> int | None:
    """Sweep if no process has swept in the last ``every_seconds``: the count of invitations
    recorded as expired, or None when the sweep was another's turn."""
    if await leases.acquire(db, SWEEP_LEASE, every_seconds) is None:
        return None
    return await sweep_once(db)


async def run_background(services, stop: asyncio.Event, poll_seconds: float) -> None:
    every = services.settings.invitation_sweep_seconds
    jobs = (services.relay.run_once, lambda: sweep_if_due(services.db, every))
    while not stop.is_set():
        for job in jobs:
            try:
                await job()
            except Exception:
                log.exception("background job failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
        except TimeoutError:
            pass
