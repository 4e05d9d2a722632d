"""Checking a user's password or an emailed link's token: counted, before the check.

Every check (login, accepting an invitation or using a join link as an existing user,
changing one's password, transferring ownership, the operator CLI) counts one attempt
against the same login limits, per email from the client's address (``login_email``), per
email from anywhere (``login_email_total``) and per client address (``login_address``),
BEFORE the password is looked at: past a limit the right password is refused exactly like
a wrong one (RateLimited). The lock-out with back-off is per email *and* address, so a
stranger who tries a victim's email locks out only themselves. ``PasswordService.verify`` is called
from nowhere else (a test holds the code to that).

Every look at an emailed link's token (password reset or welcome, email verification,
email change, invitation; to use it or only to say whether it is usable) counts one check
against one per-client-address limit (``token_address``) through a ``TokenGate``, which
the functions that look tokens up (``user_tokens.peek``, ``invitations.service.by_token``)
require: a client cannot try tokens at will, whichever adapter it comes through.

An attempt is counted in the caller's transaction. Operations run in a savepoint that a
failure rolls back (``attempt``, the web pages' ``run``), which would also undo the count;
``counted_since``/``recount`` let them record the same attempts again after the rollback.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import RateLimited
from app.identity.models import User
from app.security.client_address import limit_subject
from app.security.passwords import PasswordService
from app.security.rate_limits import UNKNOWN_ADDRESS, RateLimiter, hits_mark, undone_since
from app.validation import normalize_email

_COUNTED = "password_attempts"


def email_key(email: str | None) -> str:
    """The subject of ``login_email_total``: the normalised email."""
    return normalize_email(email or "")[:320]


def _from(email: str | None, address: str | None) -> str:
    """The subject of ``login_email``: the email, from the client's address (its IPv4
    address or IPv6 /64, as every per-address limit counts it)."""
    client = limit_subject(address) if address is not None else UNKNOWN_ADDRESS
    return f"{email_key(email)}\n{client}"


def _counted(session: AsyncSession) -> list[tuple[RateLimiter, str, str | None]]:
    return session.info.setdefault(_COUNTED, [])


Mark = tuple[int, int]


def counted_since(session: AsyncSession) -> Mark:
    """A mark for ``recount``: the attempts counted in this session so far, and its
    rate-limit hits (``rate_limits.hits_mark``)."""
    return len(_counted(session)), hits_mark(session)


async def recount(session: AsyncSession, mark: Mark) -> None:
    """After a rollback: count again the attempts counted since ``mark``, so a failed
    operation still leaves them counted. The session must be usable (in a transaction
    that will be committed). The rollback undid every hit since the mark: they are no
    longer the session's to count again if it is rolled back as a whole
    (``rate_limits.undone_since``), but these attempts, counted here anew, are."""
    counted = _counted(session)
    again, counted[mark[0] :] = counted[mark[0] :], []
    undone_since(session, mark[1])
    for limiter, name, subject in again:
        with contextlib.suppress(RateLimited):  # already answered; only the count matters
            await limiter.hit(session, name, subject)


def forget_counted(session: AsyncSession, mark: Mark) -> None:
    """The operation's transaction kept its counts (or fails as a whole, its hits counted
    again then, ``rate_limits.count_again``): nothing to record again here."""
    del _counted(session)[mark[0] :]


@dataclass(frozen=True)
class PasswordGate:
    """Checks passwords for one client address."""

    passwords: PasswordService
    limiter: RateLimiter
    address: str | None

    async def count(self, session: AsyncSession, email: str | None) -> None:
        """Count one password attempt for ``email`` from this address; RateLimited when
        any limit is over (then the password must not be checked). The ceiling from
        anywhere holds back only clients its owner has not logged in from lately
        (``login_known``): whoever spreads guesses over many addresses locks the owner's
        own clients out of nothing."""
        limits = [("login_address", self.address), ("login_email", _from(email, self.address))]
        if not await self.limiter.noted(session, "login_known", _from(email, self.address)):
            limits.append(("login_email_total", email_key(email)))
        for name, subject in limits:
            _counted(session).append((self.limiter, name, subject))
            await self.limiter.hit(session, name, subject)

    async def matches(self, user: User | None, password: str | None, *, held: bool) -> bool:
        """Only after ``count``. An unknown user or no password still costs one argon2
        verification, so the time does not tell. Needs no transaction: callers that can
        should hold none while argon2 runs (on SQLite a writer holds the write lock), and
        say so (``held=False``: the lane that queues behind floods; ``PasswordService``)."""
        stored = user.password_hash if user is not None else None
        ok = await self.passwords.verify(stored, (password or "")[:1024], held=held)
        return ok and user is not None and bool(password)

    async def succeeded(self, session: AsyncSession, email: str | None) -> None:
        """The owner of ``email`` proved their password: the failures from their address
        are forgotten (the ceiling from anywhere keeps its count: others' guesses), and
        the client is known from now on (``count``)."""
        await self.limiter.reset(session, "login_email", _from(email, self.address))
        await self.limiter.note(session, "login_known", _from(email, self.address))

    async def check(
        self, session: AsyncSession, user: User | None, password: str | None, *, email=None
    ) -> bool:
        """Count, then verify ``password`` for ``user`` (counted under ``email``, by
        default the user's). True only for the right password within the limits."""
        email = email if email is not None else (user.email if user is not None else "")
        await self.count(session, email)
        ok = await self.matches(user, password, held=True)  # inside the caller's transaction
        if ok:
            await self.succeeded(session, email)
        return ok


@dataclass(frozen=True)
class TokenGate:
    """Looks at emailed links' tokens for one client address."""

    limiter: RateLimiter
    address: str | None
    counted: bool = False
    """This request's look at the token was counted already (``again``)."""

    def again(self) -> TokenGate:
        """The same look again within one request, not counted twice (a refused form shown
        again with its errors)."""
        return replace(self, counted=True)

    async def count(self, session: AsyncSession) -> None:
        """Count one token check from this address; RateLimited when over the limit (then
        the token must not be looked at). Recorded like a password attempt, so an
        operation rolled back still leaves it counted (``recount``)."""
        if self.counted:
            return
        _counted(session).append((self.limiter, "token_address", self.address))
        await self.limiter.hit(session, "token_address", self.address)
