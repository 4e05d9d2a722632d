"""The retention sweep (app.background.prune_once) also deletes sent or failed email past
its retention (its envelope names recipients and errors) and rate-limit buckets that count
for nothing any more (every email tried at login left one); email still to be sent, and
limits still in force, stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from app.background import prune_once
from app.db.base import utcnow
from app.email.models import OutboxMessage, OutboxStatus
from app.email.outbox import enqueue
from app.security.models import RateLimitBucket
from app.security.rate_limits import SPENT_AFTER, Limit
from tests.factories import error_codes, make_member, make_tenant, take_mail

DAY = timedelta(days=1)
LOGIN = """mutation($e: String!) {
  login(input: {email: $e, password: "not the password"}) { token userErrors { code } } }"""
RESET_REQUEST = """mutation($e: String!) {
  passwordResetRequest(input: {email: $e}) { ok userErrors { code } } }"""


async def _message(services, to: str, status: OutboxStatus, age: timedelta) -> int:
    async with services.db.session(write=True) as session:
        message = await enqueue(
            session,
            services.settings.keyring,
            template="account_exists",
            to=to,
            context={"email": to, "link": "https://roster.test/password/forgot"},
        )
        message.status = status
        message.created_at = utcnow() - age
        if status == OutboxStatus.FAILED:
            message.last_error = f"550 no such user {to}"
        await session.commit()
        return message.id


async def _outbox(services) -> set[int]:
    async with services.db.session() as session:
        return set(await session.scalars(select(OutboxMessage.id)))


async def _buckets(services) -> int:
    async with services.db.session() as session:
        return await session.scalar(select(func.count()).select_from(RateLimitBucket))


async def test_sent_and_failed_email_goes_after_its_retention_and_pending_email_stays(services):
    sent_old = await _message(services, "a@example.com", OutboxStatus.SENT, 40 * DAY)
    failed_old = await _message(services, "b@example.com", OutboxStatus.FAILED, 40 * DAY)
    pending_old = await _message(services, "c@example.com", OutboxStatus.PENDING, 40 * DAY)
    sent_new = await _message(services, "d@example.com", OutboxStatus.SENT, 2 * DAY)

    pruned = await prune_once(services.db, services.settings)  # 30 days by default
    assert pruned["email_outbox"] == 2
    assert await _outbox(services) == {pending_old, sent_new}
    assert sent_old not in await _outbox(services) and failed_old not in await _outbox(services)
    # the pending one is still sent, and the next message gets an id never used before
    [message] = await take_mail(services)
    assert message["To"] == "c@example.com"
    newer = await _message(services, "e@example.com", OutboxStatus.PENDING, timedelta())
    assert newer > sent_new

    # each retention is its own setting; 0 keeps everything
    keep = services.settings.model_copy(update={"email_outbox_retention_days": 0})
    assert (await prune_once(services.db, keep))["email_outbox"] == 0
    shorter = services.settings.model_copy(update={"email_outbox_retention_days": 1})
    assert (await prune_once(services.db, shorter))["email_outbox"] == 2  # d@ and c@, sent
    assert await _outbox(services) == {newer}


async def test_a_pruned_reset_email_leaves_its_cooldown(api, services):
    """What the outbox kept decides nothing: the reset cooldown is the token's."""
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    assert (await api.data(RESET_REQUEST, {"e": member.email}))["passwordResetRequest"]["ok"]
    assert len(await take_mail(services)) == 1
    async with services.db.session(write=True) as session:
        await session.execute(update(OutboxMessage).values(created_at=utcnow() - 40 * DAY))
        await session.commit()
    assert (await prune_once(services.db, services.settings))["email_outbox"] == 1
    assert await _outbox(services) == set()
    assert (await api.data(RESET_REQUEST, {"e": member.email}))["passwordResetRequest"]["ok"]
    assert await take_mail(services) == []  # within the cooldown: no second email


async def test_spent_rate_limit_buckets_go_and_limits_in_force_stay(api, services):
    # ten logins with made-up emails: two buckets for each email (from this address, from
    # anywhere), and one for the address
    for i in range(10):
        await api(LOGIN, {"e": f"random{i}@example.com"})
    assert await _buckets(services) == 21
    assert (await prune_once(services.db, services.settings))["rate_limit_buckets"] == 0

    async with services.db.session(write=True) as session:
        await session.execute(
            update(RateLimitBucket).values(window_start=utcnow() - SPENT_AFTER - DAY)
        )
        # one of them is locked out still (its lock-out outlasts its window)
        await session.execute(
            update(RateLimitBucket)
            .where(RateLimitBucket.key == select(func.min(RateLimitBucket.key)).scalar_subquery())
            .values(blocked_until=utcnow() + DAY)
        )
        await session.commit()
    assert (await prune_once(services.db, services.settings))["rate_limit_buckets"] == 20
    assert await _buckets(services) == 1


async def test_a_limit_in_force_still_refuses_after_a_prune(api, services):
    services.limiter.limits["password_reset_address"] = Limit(2, timedelta(hours=1))
    for i in range(2):
        await api(RESET_REQUEST, {"e": f"x{i}@example.com"})
    await prune_once(services.db, services.settings)
    assert error_codes(await api(RESET_REQUEST, {"e": "x9@example.com"})) == ["RATE_LIMITED"]
