"""Single-use emailed tokens: issue, and consume exactly once (race-free)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.errors import DomainError, ErrorCode
from app.identity.credentials import TokenGate
from app.identity.models import UserToken, UserTokenPurpose
from app.security.tokens import new_token, token_digest


async def issue(
    session: AsyncSession, user_id: int, purpose: UserTokenPurpose, ttl: timedelta
) -> tuple[str, UserToken]:
    token = new_token("rt")
    row = UserToken(
        user_id=user_id, purpose=purpose, digest=token_digest(token), expires_at=utcnow() + ttl
    )
    session.add(row)
    await session.flush()
    return token, row


async def consume(
    session: AsyncSession,
    gate: TokenGate,
    token: str,
    purposes: set[UserTokenPurpose],
    field: str = "token",
    *,
    max_length: int = 200,
) -> UserToken:
    """Mark the token used; a wrong, used or expired token is a typed error.

    The conditional UPDATE makes the use exactly-once even under concurrent requests.
    Counted by ``gate`` first (``peek``).
    """
    row = await peek(session, gate, token, purposes, field, max_length=max_length)
    result = await session.execute(
        update(UserToken)
        .where(UserToken.id == row.id, UserToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        raise DomainError("This link was already used.", field=[field], code=ErrorCode.TOKEN_USED)
    return row


async def peek(
    session: AsyncSession,
    gate: TokenGate,
    token: str,
    purposes: set[UserTokenPurpose],
    field: str = "token",
    *,
    max_length: int = 200,
) -> UserToken:
    """The token's row if ``consume`` would take it now, else the error it would raise;
    the token stays unused (a page opened from an email says at once that its link is
    no good, and a link scanner's visit changes nothing). Counted by ``gate`` first."""
    await gate.count(session)
    row = (
        await session.scalar(select(UserToken).where(UserToken.digest == token_digest(token or "")))
        if token and len(token) < max_length
        else None
    )
    if row is None or row.purpose not in purposes:
        raise DomainError("This link is not valid.", field=[field], code=ErrorCode.INVALID_TOKEN)
    if row.used_at is not None:
        raise DomainError("This link was already used.", field=[field], code=ErrorCode.TOKEN_USED)
    now = utcnow()
    if row.expires_at <= now:
        raise DomainError("This link has expired.", field=[field], code=ErrorCode.TOKEN_EXPIRED)
    return row


async def invalidate(session: AsyncSession, user_id: int, *purposes: UserTokenPurpose) -> None:
    """End the user's unused links of ``purposes`` (they then answer as used)."""
    await session.execute(
        update(UserToken)
        .where(
            UserToken.user_id == user_id,
            UserToken.purpose.in_(sorted(purposes)),
            UserToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
