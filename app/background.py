"""Work the server does beside requests: relay email, record lapsed invitations and
unconfirmed memberships, and
prune what is kept only for a while (events, finished webhook deliveries, sent or failed
email, spent rate-limit buckets).

Every server process runs this loop; the work is done once across them. The relay claims
each message with a lease of its own (``app.email.relay``); each sweep runs in whichever
process first takes its named lease (``app.ops.leases``) once the previous sweep's lease
has lapsed, so the invitations' runs about once per ``invitation_sweep_seconds`` and the
pruning about once per ``retention_sweep_seconds`` however many processes there are.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from app.audit import changes
from app.db.base import utcnow
from app.db.retention import Retention
from app.email import outbox
from app.events import service as events
from app.invitations import join_links
from app.invitations.service import sweep_expired
from app.ops import leases
from app.security import rate_limits
from app.staff.membership import (
    keys_ended_due,
    lapse_unconfirmed,
    unconfirmed_due,
    withdraw_ways_in_of_keys,
)
from app.webhooks import service as webhooks

log = logging.getLogger("roster.background")

SWEEP_LEASE = "invitations.expiry_sweep"
RETENTION_LEASE = "retention.sweep"
# Rows deleted a transaction: each batch holds SQLite's write lock only briefly
PRUNE_BATCH = 500
async def sweep_once(db, unconfirmed_for: timedelta | None = None) -> int:
    """Records lapsed invitations as expired; with ``unconfirmed_for``, lapses the
    memberships that waited that long for a confirmed email (``lapse_unconfirmed``); and
    withdraws the invitations and join links made through API keys that ended without
    ``apiTokenRevoke`` (ran out, or revoked with a password change:
    ``withdraw_ways_in_of_keys``). The invitations in one transaction, then each
    account's memberships and ways in in one of its own (a sweep never waits for an
    account's lock while holding another's, nor for one while holding invitation rows).
    How many of all."""
    async with db.session(write=True) as session:
        count = await sweep_expired(session)
        await events.record(session, changes.take(session))
        await session.commit()
    if unconfirmed_for is not None:
        async with db.session() as session:
            due = await unconfirmed_due(session, unconfirmed_for)
        for account_id, staff_ids in sorted(due.items()):
            async with db.session(write=True) as session:
                count += await lapse_unconfirmed(session, account_id, staff_ids, unconfirmed_for)
                await events.record(session, changes.take(session))
                await session.commit()
    # what API keys that ran out (or were revoked with a password change) opened
    async with db.session() as session:
        accounts = await keys_ended_due(session)
    for account_id in accounts:
        async with db.session(write=True) as session:
            count += await withdraw_ways_in_of_keys(session, account_id)
            await events.record(session, changes.take(session))
            await session.commit()
    return count


async def sweep_if_due(
    db, every_seconds: float, unconfirmed_for: timedelta | None = None
) -> int | None:
    """Sweep if no process has swept in the last ``every_seconds``: the count of invitations
    and memberships recorded as lapsed, or None when the sweep was another's turn."""
    if await leases.acquire(db, SWEEP_LEASE, every_seconds) is None:
        return None
    return await sweep_once(db, unconfirmed_for)


async def prune_once(db, settings) -> dict[str, int]:
    """Deletes the events, the finished webhook deliveries, the sent or failed email and
    the decided join requests older than their retention (``events_retention_days``,
    ``webhook_deliveries_retention_days``, ``email_outbox_retention_days``,
    ``join_requests_retention_days``; 0 keeps them),
    and the rate-limit buckets that count for nothing any more (``SPENT_AFTER``), in
    batches of ``PRUNE_BATCH`` rows: each batch's ids read first (no lock), then deleted in
    a short write transaction of their own. How many of each it deleted; a kind that
    fails is logged and the others still pruned."""
    now = utcnow()

    def days_ago(days: float) -> datetime | None:
        return now - timedelta(days=days) if days else None

    # deliveries first: a pruned event's deliveries then have fewer rows to set NULL
    kinds: tuple[tuple[str, datetime | None, Retention], ...] = (
        (
            "webhook_deliveries",
            days_ago(settings.webhook_deliveries_retention_days),
            webhooks.RETENTION,
        ),
        ("events", days_ago(settings.events_retention_days), events.RETENTION),
        ("email_outbox", days_ago(settings.email_outbox_retention_days), outbox.RETENTION),
        (
            "join_requests",
            days_ago(settings.join_requests_retention_days),
            join_links.RETENTION,
        ),
        ("rate_limit_buckets", now - rate_limits.SPENT_AFTER, rate_limits.RETENTION),
    )
    pruned = {}
    for name, before, retention in kinds:
        pruned[name] = 0
        if before is None:
            continue
        try:
            while True:
                async with db.session() as session:
                    ids = await retention.batch(session, before, PRUNE_BATCH)
                if ids:
                    async with db.session(write=True) as session:
                        pruned[name] += await retention.delete(session, ids, before)
                        await session.commit()
                if len(ids) < PRUNE_BATCH:
                    break
        except Exception:
            log.exception("pruning %s failed", name)
    if any(pruned.values()):
        log.info("pruned %s", ", ".join(f"{n} {name}" for name, n in pruned.items()))
    return pruned


async def prune_if_due(db, settings) -> dict[str, int] | None:
    """Prune if no process has in the last ``retention_sweep_seconds``: what was deleted,
    or None when it was another's turn."""
    if await leases.acquire(db, RETENTION_LEASE, settings.retention_sweep_seconds) is None:
        return None
    return await prune_once(db, settings)


async def run_background(services, stop: asyncio.Event, poll_seconds: float) -> None:
    settings = services.settings
    every = settings.invitation_sweep_seconds
    jobs = (
        services.relay.run_once,
        lambda: sweep_if_due(
            services.db, every, timedelta(hours=settings.email_verification_ttl_hours)
        ),
        lambda: prune_if_due(services.db, settings),
    )
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
