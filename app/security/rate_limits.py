"""Rate limits kept in the database, so they hold across every server process.

Fixed windows per (limit, subject). The subject (an email, a client address, an account
id) is stored only as a keyed hash. Limits with back-off lock the subject out for a time
that doubles with every attempt over the limit. A hit is recorded in the request's own
transaction before the operation's savepoint, so a failed attempt still counts.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import case, delete, literal, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import UTCDateTime, utcnow
from app.errors import RateLimited
from app.security.models import RateLimitBucket

MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class Limit:
    max: int
    window: timedelta
    backoff: timedelta | None = None
    """First lock-out once over the limit; it doubles with every further attempt."""


LIMITS: dict[str, Limit] = {
    "login_email": Limit(10, timedelta(minutes=15), backoff=timedelta(seconds=30)),
    "login_address": Limit(50, timedelta(minutes=15), backoff=timedelta(seconds=30)),
    "password_reset_address": Limit(10, timedelta(hours=1)),
    "verification_address": Limit(10, timedelta(hours=1)),
    "signup_address": Limit(10, timedelta(hours=1)),
    "join_address": Limit(20, timedelta(hours=1)),
    "invitations_account": Limit(1000, timedelta(days=1)),
}


def _key(secret: str, name: str, subject: str) -> str:
    digest = hmac.new(secret.encode(), f"{name}:{subject}".encode(), hashlib.sha256)
    return f"{name}:{digest.hexdigest()[:40]}"


def _insert(dialect: str):
    return (postgresql if dialect == "postgresql" else sqlite).insert(RateLimitBucket)


class RateLimiter:
    def __init__(self, secret: str, ceilings: dict[str, int] | None = None):
        """``ceilings`` replaces the maximum of limits by name (settings.rate_limits)."""
        self.secret = secret
        self.limits = {
            name: replace(limit, max=(ceilings or {}).get(name, limit.max))
            for name, limit in LIMITS.items()
        }

    async def hit(
        self, session: AsyncSession, name: str, subject: str | int | None, cost: int = 1
    ) -> None:
        """Count ``cost`` attempts; raise RateLimited when over the limit or locked out."""
        if subject is None or cost <= 0:
            return
        limit = self.limits[name]
        key = _key(self.secret, name, str(subject))
        now = utcnow()
        stale = RateLimitBucket.window_start <= literal(now - limit.window, UTCDateTime())
        stmt = _insert(session.bind.dialect.name).values(
            key=key, window_start=now, count=cost, blocked_until=None
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[RateLimitBucket.key],
            set_={
                "count": case((stale, cost), else_=RateLimitBucket.count + cost),
                "window_start": case(
                    (stale, literal(now, UTCDateTime())), else_=RateLimitBucket.window_start
                ),
            },
        ).returning(
            RateLimitBucket.count, RateLimitBucket.window_start, RateLimitBucket.blocked_until
        )
        count, window_start, blocked_until = (await session.execute(stmt)).one()
        if count > limit.max:
            if limit.backoff is None:
                raise RateLimited(_seconds(window_start + limit.window - now))
            # every attempt while over the limit doubles the lock-out
            lock = min(MAX_BACKOFF, limit.backoff * 2 ** min(count - limit.max - 1, 20))
            await session.execute(
                update(RateLimitBucket)
                .where(RateLimitBucket.key == key)
                .values(blocked_until=now + lock)
            )
            raise RateLimited(_seconds(lock))
        if blocked_until is not None and blocked_until > now:
            raise RateLimited(_seconds(blocked_until - now))

    async def reset(self, session: AsyncSession, name: str, subject: str | int) -> None:
        await session.execute(
            delete(RateLimitBucket).where(
                RateLimitBucket.key == _key(self.secret, name, str(subject))
            )
        )


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))
