"""Notices emailed instead of an answer: sign-up, a join link or an account's sign-up page
answer a known address exactly as a new one, and email the address's owner what to do
instead (``account_exists``, ``join_existing``, ``join_record``). Anyone may cause one for
any address, and a join's notice names the account (a name its maker chose), so each
address gets at most so many a day (the ``notice_email`` limit), whichever way they are
caused; past it nothing is sent, and the answer is the same."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.email.outbox import enqueue
from app.validation import normalize_email

LIMIT = "notice_email"


async def send_notice(
    session: AsyncSession,
    settings,
    limiter,
    *,
    template: str,
    to: str,
    context: dict,
    account_id: int | None = None,
) -> bool:
    """Queue the notice ``template`` to ``to`` unless the address had its share today.
    Returns whether it was queued; the caller answers the same either way."""
    if not await limiter.allows(session, LIMIT, normalize_email(to)):
        return False
    await enqueue(
        session, settings.keyring, template=template, to=to, context=context, account_id=account_id
    )
    return True
