"""Rate limits kept in the database, so they hold across every server process.

Fixed windows per (limit, subject). The subject (an email, a client address, an account
id) is stored only as a keyed hash; a client address counts as its IPv4 address or its
IPv6 /64 (``limit_subject``), and an unknown one (a server on a Unix socket is not told
it) as ``UNKNOWN_ADDRESS``, one subject for every such client. Limits with back-off lock
the subject out for a time that doubles with every attempt over the limit. A hit is
recorded in the request's own transaction before the operation's savepoint, so a failed
attempt still counts; when that transaction is rolled back as a whole, the request's hits
are counted again in one of their own (``count_again``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Integer, and_, bindparam, case, delete, event, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db.base import UTCDateTime, utcnow
from app.db.retention import Retention
from app.errors import RateLimited
from app.security.client_address import limit_subject
from app.security.models import RateLimitBucket

MAX_BACKOFF = timedelta(hours=1)
UNKNOWN_ADDRESS = "(unknown address)"
"""The subject of a per-address limit (``*_address``) when the client's address is not
known: such clients are limited together rather than not at all."""


@dataclass(frozen=True)
class Limit:
    max: int
    window: timedelta
    backoff: timedelta | None = None
    """First lock-out once over the limit; it doubles with every further attempt."""


LIMITS: dict[str, Limit] = {
    # Password checks per email from one client (``app.identity.credentials``): the lock-out
    # is of that client only, so nobody locks an owner out of their login from elsewhere;
    # and per email from anywhere, a ceiling without back-off against guessing spread
    # over many addresses.
    "login_email": Limit(10, timedelta(minutes=15), backoff=timedelta(seconds=30)),
    "login_email_total": Limit(100, timedelta(hours=1)),
    "login_address": Limit(50, timedelta(minutes=15), backoff=timedelta(seconds=30)),
    "password_reset_address": Limit(10, timedelta(hours=1)),
    "verification_address": Limit(10, timedelta(hours=1)),
    "signup_address": Limit(10, timedelta(hours=1)),
    "join_address": Limit(20, timedelta(hours=1)),
    # Every invitee previews and accepts: 100 people behind one address within the hour.
    # The tokens are 256-bit; the limit keeps a client from scanning, not from guessing.
    "token_address": Limit(200, timedelta(hours=1)),
    "invitations_account": Limit(1000, timedelta(days=1)),
    # Notices emailed to an address instead of an answer (app.identity.notices), which a
    # stranger can cause: past the limit none is sent, and nothing tells.
    "notice_email": Limit(1, timedelta(days=1)),
    # Pings and replays, which an administrator sends by hand: a loop of them would fill
    # the delivery queue every account's endpoints share.
    "webhook_sends_account": Limit(300, timedelta(hours=1)),
    "webhook_urls_account": Limit(60, timedelta(hours=1)),
    # Rows of staff files checked (dry runs and failed imports too), counted a row at a time
    # (``app.staff.bulk_import.count_rows``): a file of the most rows, checked then
    # applied, within the hour, but not one request's worth of row checks after another.
    "staff_import_rows_account": Limit(20_000, timedelta(hours=1)),
    # Emails members cause to an address that did not ask for them, from every account
    # together: invitations (created or resent), welcomes of a registration, email-change
    # confirmations (``app.email.outbox.count_unasked``). Each carries text its sender
    # chose (a subject, a message, an account's name): Roster is nobody's relay to spam or
    # phish an address, however many accounts they sign up.
    "mail_to_email": Limit(10, timedelta(days=1)),
}

MARKS: dict[str, timedelta] = {
    # An email from one client (as ``login_email`` counts it) whose owner logged in from
    # there lately: the ceiling from anywhere (``login_email_total``) does not hold it back,
    # so strangers' guesses spread over many addresses lock none of the owner's own clients
    # out (``app.identity.credentials``); their own limits, with back-off, still hold.
    "login_known": timedelta(days=30),
}
"""Things remembered of a subject for a time (``RateLimiter.note``): nothing is refused by
them. Kept beside the buckets, under their own names."""

SPENT_AFTER = max(limit.window for limit in LIMITS.values())
"""A bucket whose window began and whose lock-out ended longer ago than this (the longest
window) counts for nothing: the next hit starts it afresh, as if there were none. The
retention sweep deletes such buckets (``RETENTION``, ``app.background``)."""


def _key(secret: str, name: str, subject: str) -> str:
    if name.endswith("_address"):  # one client, however many addresses it holds
        subject = limit_subject(subject)
    digest = hmac.new(secret.encode(), f"{name}:{subject}".encode(), hashlib.sha256)
    return f"{name}:{digest.hexdigest()[:40]}"


def _upsert(dialect: str):
    """Count a hit in the subject's window (a new window when the old one is stale).
    Built once per dialect; bound values: ``bucket`` (the key), ``now``, ``cost`` and
    ``stale_before``."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(RateLimitBucket)
    now = bindparam("now", type_=UTCDateTime())
    cost = bindparam("cost", type_=Integer())
    stale = RateLimitBucket.window_start <= bindparam("stale_before", type_=UTCDateTime())
    return (
        insert.values(key=bindparam("bucket"), window_start=now, count=cost, blocked_until=None)
        .on_conflict_do_update(
            index_elements=[RateLimitBucket.key],
            set_={
                "count": case((stale, cost), else_=RateLimitBucket.count + cost),
                "window_start": case((stale, now), else_=RateLimitBucket.window_start),
            },
        )
        .returning(
            RateLimitBucket.count, RateLimitBucket.window_start, RateLimitBucket.blocked_until
        )
    )


# Every login runs these: built once (a fresh statement costs more to key than to run).
_UPSERTS = {name: _upsert(name) for name in ("postgresql", "sqlite")}
_BLOCK = (
    update(RateLimitBucket)
    .where(RateLimitBucket.key == bindparam("bucket"))
    .values(blocked_until=bindparam("until", type_=UTCDateTime()))
)
_RESET = delete(RateLimitBucket).where(RateLimitBucket.key == bindparam("bucket"))
_NOTED_AT = select(RateLimitBucket.window_start).where(RateLimitBucket.key == bindparam("bucket"))


def _note(dialect: str):
    """Remember a subject as of ``now`` (``RateLimiter.note``)."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(RateLimitBucket)
    now = bindparam("now", type_=UTCDateTime())
    return insert.values(
        key=bindparam("bucket"), window_start=now, count=1, blocked_until=None
    ).on_conflict_do_update(index_elements=[RateLimitBucket.key], set_={"window_start": now})


_NOTES = {name: _note(name) for name in ("postgresql", "sqlite")}


class RateLimiter:
    def __init__(self, secret: str, ceilings: dict[str, int] | None = None):
        """``ceilings`` replaces the maximum of limits by name (settings.rate_limits)."""
        self.secret = secret
        self.limits = {
            name: replace(limit, max=(ceilings or {}).get(name, limit.max))
            for name, limit in LIMITS.items()
        }
        self.refusals: Counter[str] = Counter()
        """Attempts refused, by limit name, since this limiter was made (the metrics)."""

    async def hit(
        self, session: AsyncSession, name: str, subject: str | int | None, cost: int = 1
    ) -> None:
        """Count ``cost`` attempts; raise RateLimited when over the limit or locked out.
        A per-address limit counts an unknown address (None) as ``UNKNOWN_ADDRESS``."""
        if subject is None and name.endswith("_address"):
            subject = UNKNOWN_ADDRESS
        if subject is None or cost <= 0:
            return
        limit = self.limits[name]
        key = _key(self.secret, name, str(subject))
        _taken(session).append((self, name, subject, cost))
        now = utcnow()
        params = {"bucket": key, "now": now, "cost": cost, "stale_before": now - limit.window}
        upsert = _UPSERTS[session.get_bind().dialect.name]
        count, window_start, blocked_until = (await session.execute(upsert, params)).one()
        if count > limit.max:
            self.refusals[name] += 1
            if limit.backoff is None:
                raise RateLimited(_seconds(window_start + limit.window - now))
            # every attempt while over the limit doubles the lock-out
            lock = min(MAX_BACKOFF, limit.backoff * 2 ** min(count - limit.max - 1, 20))
            await session.execute(_BLOCK, {"bucket": key, "until": now + lock})
            raise RateLimited(_seconds(lock))
        if blocked_until is not None and blocked_until > now:
            self.refusals[name] += 1
            raise RateLimited(_seconds(blocked_until - now))

    async def note(self, session: AsyncSession, name: str, subject: str) -> None:
        """Remember ``subject`` under the mark ``name`` (``MARKS``) for its time from now."""
        assert name in MARKS, name
        params = {"bucket": _key(self.secret, name, subject), "now": utcnow()}
        await session.execute(_NOTES[session.get_bind().dialect.name], params)

    async def noted(self, session: AsyncSession, name: str, subject: str) -> bool:
        """Whether ``subject`` was remembered under ``name`` within its time (``note``)."""
        noted_at = await session.scalar(
            _NOTED_AT, {"bucket": _key(self.secret, name, subject)}
        )
        return noted_at is not None and noted_at > utcnow() - MARKS[name]

    async def allows(self, session: AsyncSession, name: str, subject: str | int | None) -> bool:
        """Count one use of what is done quietly, not refused (a notice not sent): whether
        it was within the limit. Never raises RateLimited."""
        try:
            await self.hit(session, name, subject)
        except RateLimited:
            return False
        return True

    async def reset(self, session: AsyncSession, name: str, subject: str | int) -> None:
        await session.execute(_RESET, {"bucket": _key(self.secret, name, str(subject))})


# session.info: the hits counted in the session's transaction since it last committed
_HITS = "roster.rate_limit_hits"
log = logging.getLogger(__name__)


def _taken(session) -> list:
    return session.info.setdefault(_HITS, [])


@event.listens_for(Session, "after_commit")
def _kept(session: Session) -> None:
    """A committed transaction kept its hits: none is left to count again (``uncommitted``).
    Not a savepoint's release (SQLAlchemy tells it too): its transaction may still fail."""
    if not session.in_nested_transaction():
        session.info.pop(_HITS, None)


def hits_mark(session) -> int:
    """A mark for ``undone_since``: the hits counted in ``session``'s transaction so far."""
    return len(session.info.get(_HITS, ()))


def undone_since(session, mark: int) -> None:
    """A savepoint's rollback undid the hits counted since ``mark``: not the transaction's
    any more (``uncommitted``). Whoever counts them again (``credentials.recount``) adds
    them anew."""
    hits = session.info.get(_HITS)
    if hits:
        del hits[mark:]


def uncommitted(session) -> list:
    """The hits ``session`` counted since it last committed, for ``count_again``: a
    savepoint's rollback undoes some, and they are dropped where the rollback is handled
    (``undone_since``, when attempts are counted again), else kept: a failed operation's
    hits are counted once whatever happens to it."""
    return list(session.info.get(_HITS, ()))


async def count_again(db, hits: list) -> None:
    """Counts ``hits`` (``uncommitted``) in a transaction of its own, committed.

    A request's hits are counted in its own transaction, and a request that fails as a
    whole is rolled back: a GraphQL document whose other root field is refused with a
    top-level error (``app.graphql.extensions``), one that runs out of time, one that
    fails unexpectedly. Without this, wrapping a login in such a document would undo
    its count and lock-out, and guesses would be unlimited. Whatever the request's
    outcome, each attempt it made stays counted, once (a hit a refused field's savepoint
    undid is the request's no more, but for the password and token checks it counted again
    itself, ``credentials.recount``). A failure here is logged, never raised: the request
    has its answer.

    The count runs as a task of its own, which the request's cancellation (its time limit
    reached while it closes) does not cancel: it would take the hits with it again."""
    if not hits:
        return
    task = asyncio.ensure_future(_count_again(db, hits))
    _counting_again.add(task)
    task.add_done_callback(_counting_again.discard)
    await asyncio.shield(task)


_counting_again: set[asyncio.Task] = set()  # held until done (a shielded task is not)


async def _count_again(db, hits: list) -> None:
    try:
        async with db.session(write=True) as session:
            for limiter, name, subject, cost in hits:
                with contextlib.suppress(RateLimited):  # answered already; the count matters
                    await limiter.hit(session, name, subject, cost)
            await session.commit()
    except Exception:
        log.exception("counting the attempts of a failed request again failed")


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


def _spent_before(before: datetime):
    """Buckets spent as of ``before`` (``now - SPENT_AFTER``), and marks past their time."""
    key, start = RateLimitBucket.key, RateLimitBucket.window_start
    spent = and_(
        start < before,
        or_(RateLimitBucket.blocked_until.is_(None), RateLimitBucket.blocked_until < before),
    )
    marks = [(key.startswith(f"{name}:"), kept) for name, kept in MARKS.items()]
    return (
        or_(
            and_(*(~is_mark for is_mark, _ in marks), spent),
            *(and_(is_mark, start < before + SPENT_AFTER - kept) for is_mark, kept in marks),
        ),
    )


# Buckets whose window began and whose lock-out (if any) ended before ``now - SPENT_AFTER``:
# spent. Every subject ever counted leaves one (each email tried at login, each client
# address), so they would only pile up; one hit since has started a new window and stays.
RETENTION = Retention(RateLimitBucket.key, _spent_before)
