"""The notices emailed to a known address instead of an answer (sign-up's "you already have
an account", a join link's or an account sign-up page's "sign in to join" and "your place
at"): anyone can cause them for any address, a join's naming an account whose name its
maker chose, so an address gets at most one a day, whichever way; the answer never tells
whether one was sent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.access import Role
from app.db.base import utcnow
from app.security.models import RateLimitBucket
from app.security.rate_limits import Limit
from tests.factories import make_member, make_tenant, take_mail
from tests.identity.test_review_signup_oracle import signup
from tests.invitations.test_join_links import create_ok, invite_record, join
from tests.invitations.test_open_signup import SIGNUP, _input, _open

WRONG = "a wrong but long password"


def notices_to(mail, address: str) -> list[str]:
    return [m["Subject"] for m in mail if m["To"] == address]


async def test_a_known_address_gets_one_notice_a_day_however_often_it_is_used(api, services):
    """The spammer's loop: sign-up, a join link and an account's sign-up page, again and
    again with a victim's address, under an account name of the spammer's choosing."""
    victim = await make_member(services, await make_tenant(services), Role.VIEWER)
    spam = await make_tenant(services, "CALL +1 555 0100 NOW: your account is locked")
    await _open(api, spam)
    token, _ = await create_ok(api, spam.owner, role="VIEWER")
    await take_mail(services)

    # the first: sign-up's notice
    first = await signup(api, victim.email)
    assert first == {"ok": True, "userErrors": []}
    assert notices_to(await take_mail(services), victim.email) == [
        "You already have a Roster account"
    ]
    # then nothing more to that address today, by any door, and the same answers
    for i in range(2):
        assert await signup(api, victim.email) == first
        decoy = await join(api, token, victim.email, password=WRONG)
        newcomer = await join(api, token, f"new{i}@example.com", password=WRONG)
        assert decoy == newcomer and decoy["userErrors"] == []
        door = await api.data(SIGNUP, _input(spam.slug, victim.email, WRONG))
        fresh = await api.data(SIGNUP, _input(spam.slug, f"fresh{i}@example.com", WRONG))
        assert door == fresh and door["accountSignup"]["userErrors"] == []
    assert notices_to(await take_mail(services), victim.email) == []

    # another address has its own day
    other = await make_member(services, await make_tenant(services), Role.VIEWER)
    await join(api, token, other.email.upper(), password=WRONG)
    assert notices_to(await take_mail(services), other.email) == [
        "Sign in to join CALL +1 555 0100 NOW: your account is locked on Roster"
    ]

    # a day later the victim can be told again (once)
    async with services.db.session(write=True) as session:
        await session.execute(
            update(RateLimitBucket).values(window_start=utcnow() - timedelta(days=1, seconds=1))
        )
        await session.commit()
    await join(api, token, victim.email, password=WRONG)
    await join(api, token, victim.email, password=WRONG)
    assert len(notices_to(await take_mail(services), victim.email)) == 1


async def test_an_invited_address_used_by_a_stranger_is_told_once_a_day(api, services):
    """``join_record``: a stranger joining at an invited person's address (no login there)."""
    tenant = await make_tenant(services, "Held Co")
    await invite_record(api, services, tenant, "held@example.com")
    token, _ = await create_ok(api, tenant.owner, role="EDITOR")
    await take_mail(services)
    answers = [await join(api, token, "held@example.com") for _ in range(2)]
    assert answers[0] == answers[1] and answers[0]["userErrors"] == []
    assert notices_to(await take_mail(services), "held@example.com") == [
        "Your place at Held Co on Roster"
    ]


async def test_an_operator_can_allow_more_notices(api, services):
    services.limiter.limits["notice_email"] = Limit(2, timedelta(days=1))  # RATE_LIMITS
    victim = await make_member(services, await make_tenant(services), Role.VIEWER)
    await take_mail(services)
    for _ in range(3):
        await signup(api, victim.email)
    assert len(notices_to(await take_mail(services), victim.email)) == 2
