"""Operator tasks run outside a request (CLI)."""

from __future__ import annotations

from app.accounts.service import create_account
from app.db.engine import Database
from app.identity import service as identity
from app.identity.credentials import PasswordGate
from app.identity.errors import InvalidCredentials
from app.security.passwords import PasswordService
from app.security.rate_limits import RateLimiter
from app.settings import Settings


async def create_account_with_owner(
    settings: Settings, *, name: str, email: str, password: str, slug: str | None, seats: int
) -> dict:
    """A new account owned by ``email``; an existing user must give their own password."""
    db = Database(settings.database_url)
    passwords = PasswordService.from_settings(settings)
    try:
        async with db.session(write=True) as session:
            user = await identity.get_user_by_email(session, email)
            if user is None:
                user = await identity.create_user(
                    session, passwords, email=email, password=password, verified=True
                )
            else:
                gate = PasswordGate(
                    passwords, RateLimiter(settings.secret_key, settings.rate_limits), None
                )
                if not await gate.check(session, user, password):
                    await session.commit()  # the attempt stays counted; nothing else changed
                    raise InvalidCredentials()
            account, staff = await create_account(
                session, name=name, owner=user, slug=slug, seat_limit=seats
            )
            await session.commit()
            return {
                "account_id": account.id,
                "slug": account.slug,
                "owner_user_id": user.id,
                "owner_staff_id": staff.id,
            }
    finally:
        await db.dispose()
        passwords.shutdown()
