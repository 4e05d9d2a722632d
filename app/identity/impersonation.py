"""Logging in as a member: a short-lived token that acts as them, in one account only."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, Permit, refuse_impersonation, require
from app.db.base import utcnow
from app.errors import DomainError, ErrorCode, Forbidden, ValidationFailed
from app.identity.models import AuthToken, TokenKind
from app.identity.service import lock_user
from app.security.tokens import new_token, token_digest
from app.staff import access
from app.staff.models import AccountStatus
from app.staff.service import get_staff, lock_members
from app.validation import clean_text

MAX_MINUTES = 60


async def start(
    session: AsyncSession, actor: Actor, staff_id: int, reason: str | None, minutes: int
) -> tuple[str, AuthToken]:
    require(actor, Permit.IMPERSONATE)
    refuse_impersonation(actor)
    errors: list[DomainError] = []
    try:
        reason = clean_text(reason, "reason", max_length=500, required=True, label="A reason")
    except DomainError as exc:
        errors.append(exc)
    if not 1 <= minutes <= MAX_MINUTES:
        errors.append(
            DomainError(f"Impersonation lasts 1 to {MAX_MINUTES} minutes.", field=["minutes"])
        )
    if errors:
        raise ValidationFailed(errors)
    # The account's members, then the administrator's login, locked as a disable and a
    # password reset lock them before they end tokens: a token made beside either would
    # not be ended with the others (``identity.service.lock_user``).
    await lock_members(session, actor)
    await lock_user(session, actor.user_id)
    target = await get_staff(session, actor, staff_id, field="staff_id")
    if not access.can_manage(actor, target.id, target.role):
        raise Forbidden("You may only log in as members below your own role.", field=["staff_id"])
    if target.account_status != AccountStatus.ACTIVE or target.user_id is None:
        raise DomainError(
            "Only active members with a login can be impersonated.",
            field=["staff_id"],
            code=ErrorCode.INVALID_STATE,
        )
    token = new_token("rx")
    row = AuthToken(
        user_id=target.user_id,
        account_id=actor.account_id,
        kind=TokenKind.IMPERSONATION,
        digest=token_digest(token),
        expires_at=utcnow() + timedelta(minutes=minutes),
        impersonator_user_id=actor.user_id,
        reason=reason,
        name=f"impersonation of {target.sid}",
    )
    session.add(row)
    await session.flush()
    return token, row


async def stop(session: AsyncSession, actor: Actor) -> None:
    if not actor.impersonated:
        raise DomainError("You are not impersonating anyone.", code=ErrorCode.INVALID_STATE)
    token = await session.get_one(AuthToken, actor.token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await session.flush()
