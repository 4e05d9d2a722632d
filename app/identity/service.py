"""Users, login, session and API tokens, and turning a presented token into an Actor."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, and_, cast, null, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app import after_response
from app.access import ROLE_PERMITS, ROLE_RANK, Actor, Permit, require
from app.access.roles import invites
from app.access.scopes import (
    LEGACY_SCOPES,
    Scope,
    Surface,
    format_scopes,
    holds,
    narrowed,
    on_surface,
    parse_scopes,
)
from app.accounts.models import Account
from app.accounts.queries import realm_terms
from app.db.base import utcnow
from app.db.prepared import connection_of
from app.db.unique import claim
from app.errors import DomainError, Forbidden, NotFound, Unauthenticated
from app.identity.errors import EmailTaken, InvalidCredentials, WeakPassword
from app.identity.models import AuthToken, TokenKind, User
from app.identity.queries import (
    ACCOUNT_RECORDS,
    LIVE_TOKEN_WITH_MEMBERSHIPS,
    MEMBER_RECORDS,
    TOKEN_RECORDS,
    USER_RECORDS,
    Counting,
    active_memberships,
    live_token_counting,
    token_acts_for,
)
from app.security.passwords import PasswordService, password_problem
from app.security.tokens import new_token, token_digest
from app.staff.models import AccountStatus, Staff, StaffPermitGrant, StaffShare
from app.staff.queries import visible
from app.validation import clean_email, clean_text

SESSION_PREFIX = "rs"
API_PREFIX = "ra"

# An API token's last_used_at is written at most this often (not on every request).
LAST_USED_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user, before an account is chosen."""

    user_id: int
    token_id: int
    token_kind: TokenKind
    token_account_id: int | None
    impersonator_user_id: int | None = None
    scopes: frozenset[Scope] | None = None
    """An API token's scopes; None for sessions and impersonation."""
    user: User | None = field(default=None, compare=False, repr=False)
    """The user as authentication read them (a read-only record of their id, email,
    names and verification time); None where the principal was made without reading it."""
    memberships: tuple[Membership, ...] | None = field(default=None, compare=False, repr=False)
    """Every active membership of the user (``memberships_of``, as read-only records), as
    authentication read them, also those this token may not act in; None where not read."""

    def is_signed_in_user(self, user_id: int) -> bool:
        """Whether this is ``user_id`` signed in: their own session, which may consent for
        them (accept an invitation, join an account) without the password. An API or
        impersonation token acts for its user in one account only, never beyond it."""
        return (
            self.user_id == user_id
            and self.token_kind == TokenKind.SESSION
            and self.token_account_id is None
            and self.impersonator_user_id is None
        )


@dataclass(frozen=True)
class Membership:
    account: Account
    staff: Staff


@dataclass(frozen=True)
class LoginResult:
    token: str
    user: User
    memberships: list[Membership]


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    normalized = clean_email(email, required=False)
    if normalized is None:
        return None
    return await session.scalar(select(User).where(User.email == normalized))


async def create_user(
    session: AsyncSession,
    passwords: PasswordService,
    *,
    email: str,
    password: str | None,
    first_name: str | None = None,
    last_name: str | None = None,
    verified: bool = False,
    hashed: str | None = None,
) -> User:
    """``hashed``: ``password``'s hash, made by a caller that hashes before it takes a lock
    (``join_links.join_through``); otherwise it is made here."""
    email = clean_email(email, required=True)
    if password is not None and (problem := password_problem(password, email)):
        raise WeakPassword(problem)
    if await session.scalar(select(User.id).where(User.email == email)):
        raise EmailTaken()
    if password is not None and hashed is None:
        hashed = await passwords.hash(password, held=True)
    user = User(
        email=email,
        password_hash=hashed if password is not None else None,
        first_name=clean_text(first_name, "first_name", max_length=100),
        last_name=clean_text(last_name, "last_name", max_length=100),
        email_verified_at=utcnow() if verified else None,
    )
    # a concurrent request may create this email after the check
    async with claim(session, {"uq_users_email": EmailTaken}):
        session.add(user)
    return user


async def issue_token(
    session: AsyncSession,
    user: User,
    *,
    kind: TokenKind,
    ttl: timedelta,
    account_id: int | None = None,
    name: str | None = None,
    scopes: Iterable[Scope] | None = None,
) -> tuple[str, AuthToken]:
    """A new token; an API token without ``scopes`` gets ``LEGACY_SCOPES`` (its creator's
    whole role, as before scopes existed).

    Issued with the user's row locked (PostgreSQL), as ending their tokens locks it
    (``lock_user``): a token inserted by a transaction not yet committed is not seen by a
    concurrent password reset's UPDATE of the user's tokens, and would outlive it."""
    await lock_user(session, user.id)
    token = new_token(SESSION_PREFIX if kind == TokenKind.SESSION else API_PREFIX)
    if kind == TokenKind.API and scopes is None:
        scopes = LEGACY_SCOPES
    row = AuthToken(
        user_id=user.id,
        account_id=account_id,
        kind=kind,
        digest=token_digest(token),
        name=name,
        expires_at=utcnow() + ttl,
        scopes=format_scopes(scopes) if scopes is not None else None,
    )
    session.add(row)
    await session.flush()
    return token, row


async def lock_user(session: AsyncSession, user_id: int) -> None:
    """Lock the user's row until the transaction ends (PostgreSQL; SQLite's writers take
    turns already): issuing a token and ending the user's tokens take turns, so that none
    is issued beside a reset that does not see it (``issue_token``, ``end_tokens``)."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


async def memberships_of(session: AsyncSession, user_id: int) -> list[Membership]:
    rows = await session.execute(active_memberships(user_id))
    return [Membership(account=a, staff=s) for s, a in rows.all()]


async def login_candidate(session: AsyncSession, email: str) -> User | None:
    """The user an email logs in as, if any (the first step of a login)."""
    return await get_user_by_email(session, email) if len(email) <= 320 else None


async def complete_login(
    session: AsyncSession,
    passwords: PasswordService,
    *,
    user_id: int | None,
    checked_hash: str | None,
    matched: bool,
    password: str,
    session_ttl: timedelta,
) -> LoginResult:
    """Open a session after ``PasswordGate.matches``; the user's hash must still be the one
    checked (a password changed meanwhile wins): read with the user's row locked, so a
    reset under way is waited for and its new hash read (``lock_user``)."""
    user = None
    if matched and user_id is not None:
        user = await session.get(User, user_id, populate_existing=True, with_for_update=True)
    if user is None or user.password_hash is None or user.password_hash != checked_hash:
        raise InvalidCredentials()
    if user.email_verified_at is None:
        # Answered as a wrong password: signing up (or joining) answers alike whether an
        # address has a login, and a login must not tell them apart afterwards (a new
        # address's login takes the password offered, a taken address's does not).
        raise InvalidCredentials()
    if passwords.needs_rehash(user.password_hash):  # in the login's write transaction
        user.password_hash = await passwords.hash(password, held=True)
    token, _ = await issue_token(session, user, kind=TokenKind.SESSION, ttl=session_ttl)
    return LoginResult(token=token, user=user, memberships=await memberships_of(session, user.id))


async def end_tokens(
    session: AsyncSession,
    user_id: int,
    *,
    kinds: Iterable[TokenKind],
    keep_token_id: int | None = None,
    account_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """End the user's live tokens of ``kinds`` (but ``keep_token_id``) and every
    impersonation the user started: an impersonation is its administrator's access, so it
    ends wherever their own sessions end (a password reset or change, a disable). With
    ``account_id``, only tokens bound to that account. The one place that ends a user's
    tokens because their credentials changed or their membership ended; see also
    ``_check_impersonator``, which holds an impersonation to its administrator's standing
    on every request."""
    revoke = (
        update(AuthToken)
        .where(
            AuthToken.revoked_at.is_(None),
            or_(
                (AuthToken.user_id == user_id) & AuthToken.kind.in_(sorted(set(kinds))),
                AuthToken.impersonator_user_id == user_id,
            ),
        )
        .values(revoked_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    if keep_token_id is not None:
        revoke = revoke.where(AuthToken.id != keep_token_id)
    if account_id is not None:
        revoke = revoke.where(AuthToken.account_id == account_id)
    await session.execute(revoke)


async def log_out(session: AsyncSession, principal: Principal) -> None:
    """End the token ``principal`` signed in with. Logging out of one's own session also
    ends every impersonation the user started (``end_tokens``, as a password change does):
    an impersonation is access begun in one of their sessions and must not outlive it.
    Impersonation tokens do not record which session started them, so this ends all the
    user's impersonations, not only those started from the logged-out session; that is the
    narrowest rule the tokens allow. API keys never start impersonations (no scope carries
    IMPERSONATE), and logging out through an impersonation token ends only that token (its
    user is the member impersonated, whose own impersonations are not touched)."""
    if principal.token_kind == TokenKind.SESSION and principal.impersonator_user_id is None:
        await end_tokens(session, principal.user_id, kinds=())
    await revoke_token(session, principal.token_id)


async def revoke_token(session: AsyncSession, token_id: int) -> None:
    token = await session.get(AuthToken, token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = utcnow()
        await session.flush()


async def create_api_token(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    expires_in_days: int | None,
    default_days: int,
    max_days: int,
    scopes: Iterable[Scope] | None = None,
) -> tuple[str, AuthToken]:
    """A key of the actor in their account. ``scopes`` None: every scope the actor holds
    but scim (their whole role, as keys were before scopes). A scope the actor holds none
    of the permits of (all of them, for scim) is refused: a key never reaches beyond its
    creator."""
    name = clean_text(name, "name", max_length=100, required=True, label="Token name")
    days = default_days if expires_in_days is None else expires_in_days
    if not 1 <= days <= max_days:
        raise DomainError(f"A token lasts 1 to {max_days} days.", field=["expires_in_days"])
    if scopes is None:
        chosen = frozenset(s for s in LEGACY_SCOPES if holds(actor.permits, s))
    else:
        chosen = frozenset(Scope(s) for s in scopes)
        if not chosen:
            raise DomainError("Name at least one scope.", field=["scopes"])
        for scope in sorted(chosen):
            if not holds(actor.permits, scope):
                raise Forbidden(
                    f"Your role does not allow the {scope.value} scope.", field=["scopes"]
                )
    if not chosen:
        raise Forbidden("Your role gives an API key nothing to do.", field=["scopes"])
    # the account's members locked, as a disable locks them before it ends the member's
    # tokens there, and the creator's own record read again under the lock: a key made
    # beside a disable, by a request that authenticated before it, would not be ended, and
    # would come back at an enable (imported here: the staff service reads through this
    # module)
    from app.staff.service import lock_members

    await lock_members(session, actor)
    user = await session.get_one(User, actor.user_id)
    return await issue_token(
        session,
        user,
        kind=TokenKind.API,
        ttl=timedelta(days=days),
        account_id=actor.account_id,
        name=name,
        scopes=chosen,
    )


def _live_api_tokens(account_id: int):
    return select(AuthToken).where(
        AuthToken.account_id == account_id,
        AuthToken.kind == TokenKind.API,
        AuthToken.revoked_at.is_(None),
        AuthToken.expires_at > utcnow(),
    )


async def list_api_tokens(session: AsyncSession, actor: Actor) -> list[AuthToken]:
    """The actor's own live keys in this account."""
    result = await session.scalars(
        _live_api_tokens(actor.account_id)
        .where(AuthToken.user_id == actor.user_id)
        .order_by(AuthToken.id)
    )
    return list(result)


async def list_account_api_tokens(
    session: AsyncSession, actor: Actor
) -> list[tuple[AuthToken, Staff | None]]:
    """Every live key of the account with its creator's staff record (administrators:
    MANAGE_ACCOUNT), when ``actor`` sees it (``staff.queries.visible``: a key that does
    not read the directory learns no name through its keys' creators)."""
    require(actor, Permit.MANAGE_ACCOUNT)
    rows = await session.execute(
        _live_api_tokens(actor.account_id)
        .add_columns(Staff)
        .outerjoin(
            Staff,
            and_(
                Staff.user_id == AuthToken.user_id,
                Staff.account_id == AuthToken.account_id,
                *visible(actor),
            ),
        )
        .order_by(AuthToken.id)
    )
    return [(token, staff) for token, staff in rows.all()]


def _may_manage(actor: Actor, token: AuthToken | None) -> bool:
    """An API key of this account that is the actor's own, or any of the account's keys
    for an administrator (MANAGE_ACCOUNT)."""
    return (
        token is not None
        and token.kind == TokenKind.API
        and token.account_id == actor.account_id
        and (token.user_id == actor.user_id or actor.can(Permit.MANAGE_ACCOUNT))
    )


async def find_api_token(session: AsyncSession, actor: Actor, token_id: int) -> AuthToken | None:
    """An API token by id, as the actor may look it up: their own in this account, or for
    administrators any of this account's (another account's is not found)."""
    token = await session.get(AuthToken, token_id)
    return token if _may_manage(actor, token) else None


async def find_user(session: AsyncSession, actor: Actor, user_id: int) -> User | None:
    """A user by id, as the actor may look it up: only themselves."""
    return await session.get(User, user_id) if user_id == actor.user_id else None


async def revoke_api_token(session: AsyncSession, actor: Actor, token_id: int) -> AuthToken:
    """Revoke a key: the creator's own, or for administrators (MANAGE_ACCOUNT) the keys
    of members below their role; another's key without that permit, or another
    account's, is not found."""
    token = await session.get(AuthToken, token_id)
    if token is None or not _may_manage(actor, token):
        raise NotFound("API token", field=["id"])
    assert token is not None
    if token.user_id != actor.user_id:
        creator = await session.scalar(
            select(Staff.role).where(
                Staff.account_id == token.account_id, Staff.user_id == token.user_id
            )
        )
        # as members are managed: only those strictly below one's role (an administrator
        # stops no other administrator's integration, nor the owner's)
        if creator is not None and ROLE_RANK[creator] >= ROLE_RANK[actor.role]:
            raise Forbidden(
                "Only the key's creator, or someone above their role, revokes it.",
                field=["id"],
            )
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await session.flush()
    return token


async def authenticate_actor(
    session: AsyncSession, token: str, realm: str | None, *, surface: Surface = Surface.API
) -> tuple[Principal, Actor | None]:
    """The principal behind a live token and its actor in the chosen account, from one
    statement (every request pays for it). Anything but a live token is Unauthenticated.
    The principal carries the user and their memberships, the actor its account, as that
    statement read them (so showing them reads nothing again). An API key's actor holds
    what its scopes that count on ``surface`` give (``app.access.scopes.SURFACE_SCOPES``):
    only the SCIM endpoint asks for ``Surface.SCIM``.

    A realm the user is not an active member of raises Unauthenticated, exactly like an
    unknown realm. With no realm, a user with a single account acts in it; otherwise the
    actor is None.
    """
    principal, actor, _ = await authenticate_counting(session, token, realm, None, surface=surface)
    return principal, actor


async def authenticate_counting(
    session: AsyncSession,
    token: str,
    realm: str | None,
    counting: Counting | None,
    *,
    surface: Surface = Surface.API,
) -> tuple[Principal, Actor | None, tuple | None]:
    """``authenticate_actor``, and the values of ``counting``'s columns for the actor's
    account and the token's user, read by the same statement (None without an actor or
    a ``counting``)."""
    if not token or len(token) > 200:
        raise Unauthenticated()
    now = utcnow()
    params = {"digest": token_digest(token), "now": now}
    statement = LIVE_TOKEN_WITH_MEMBERSHIPS
    terms = realm_terms(realm) if realm else (None, None)
    if terms is None:
        counting = None  # a realm no account has: nothing worth counting
    if counting is not None and terms is not None:
        statement = live_token_counting(counting)
        params.update(counting.params, realm_slug=terms[0] or None, realm_id=terms[1])
    connection = await connection_of(session)
    rows = await statement.all(connection, params)
    if not rows:
        raise Unauthenticated()
    auth = TOKEN_RECORDS.take(rows[0])
    user_at = len(TOKEN_RECORDS)
    member_at = user_at + len(USER_RECORDS)
    account_at = member_at + len(MEMBER_RECORDS)
    lists_at = account_at + len(ACCOUNT_RECORDS)
    memberships, acting, access, counts = [], [], {}, {}
    for r in rows:
        staff = MEMBER_RECORDS.take(r, member_at)
        if staff is None:
            continue
        membership = Membership(account=ACCOUNT_RECORDS.take(r, account_at), staff=staff)
        memberships.append(membership)
        if not r[lists_at]:  # a token from before the member was disabled
            continue
        acting.append(membership)
        grants, shared = r[lists_at + 1], r[lists_at + 2]
        access[staff.id] = (
            {Permit(p) for p in grants.split(",")} if grants else set(),
            {int(i) for i in shared.split(",")} if shared else set(),
        )
        counts[staff.id] = tuple(r[lists_at + 3 :])
    principal = Principal(
        auth.user_id,
        auth.id,
        auth.kind,
        auth.account_id,
        auth.impersonator_user_id,
        parse_scopes(auth.scopes) if auth.kind == TokenKind.API else None,
        user=USER_RECORDS.take(rows[0], user_at),
        memberships=tuple(memberships),
    )
    if auth.kind == TokenKind.API:
        await _note_use(session, auth.id, auth.last_used_at, now)
    actor = await _actor_among(session, principal, acting, realm, access, surface)
    counted = counts[actor.staff_id] if actor is not None and counting is not None else None
    if counted is not None and any(v is None for v in counted):
        counted = None  # the statement did not count this membership's (see _counted_here)
    return principal, actor, counted


# Keys whose use is being recorded in this process: one write at a time each (every event
# of a subscription authenticates again, and would otherwise queue one write per event
# while the first waits for SQLite's writer lock). By when each was queued: one that never
# ran (its request cut off before its queue) holds back no later one past a minute.
_noting: dict[int, float] = {}


async def _note_use(
    session: AsyncSession, token_id: int, last_used_at: datetime | None, now: datetime
) -> None:
    """Record that an API key was used, at most once per ``LAST_USED_EVERY``: nothing when
    it was recorded lately, else one conditional UPDATE in its own transaction, after the
    response (a read request has no write of its own to add it to; concurrent requests
    write it once)."""
    if last_used_at is not None and last_used_at > now - LAST_USED_EVERY:
        return
    if _noting.get(token_id, -LAST_USED_EVERY.total_seconds()) > time.monotonic() - 60:
        return
    bind = session.bind
    assert isinstance(bind, AsyncEngine)  # sessions are made on the engine (app.db.engine)
    engine = bind.execution_options(roster_write=True)

    async def record() -> None:
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    update(AuthToken)
                    .where(
                        AuthToken.id == token_id,
                        or_(
                            AuthToken.last_used_at.is_(None),
                            AuthToken.last_used_at <= now - LAST_USED_EVERY,
                        ),
                    )
                    .values(last_used_at=now)
                )
        finally:
            _noting.pop(token_id, None)

    # Outside a request there is no response to wait for, and the caller's transaction may
    # hold SQLite's write lock: such a use (a script's) is not recorded.
    _noting[token_id] = time.monotonic()
    if not after_response.defer(record):
        _noting.pop(token_id, None)


async def _actor_among(
    session: AsyncSession,
    principal: Principal,
    memberships: list[Membership],
    realm: str | None,
    access: dict[int, tuple[set[Permit], set[int]]],
    surface: Surface,
) -> Actor | None:
    """The actor in the membership the realm (or the token) chooses among those it may act
    in (``memberships``); ``access`` holds each member's grants and shares."""
    if principal.token_account_id is not None:
        memberships = [m for m in memberships if m.account.id == principal.token_account_id]
    if realm:
        key = realm.strip()
        chosen = [
            m for m in memberships if m.account.slug == key.casefold() or str(m.account.id) == key
        ]
        if not chosen:
            raise Unauthenticated()
    elif len(memberships) == 1 or principal.token_account_id is not None:
        chosen = memberships
        if not chosen:
            raise Unauthenticated()
    else:
        return None
    membership = chosen[0]
    if principal.impersonator_user_id is not None:
        await _check_impersonator(session, principal, membership)
    grants, shared = access[membership.staff.id]
    return _actor(principal, membership.account, membership.staff, grants, shared, surface)


async def _check_impersonator(
    session: AsyncSession, principal: Principal, target: Membership
) -> None:
    """An impersonation token works only while its administrator could still start it: an
    active member of that account with IMPERSONATE who outranks the target, and whose own
    tokens of the token's age still act there (``token_acts_for``: not from before they
    were disabled, even once enabled again). Wherever the administrator's sessions are
    ended (a password reset or change, a disable), their impersonations are revoked with
    them (``end_tokens``)."""
    impersonator = await session.scalar(
        select(Staff)
        .join(AuthToken, AuthToken.id == principal.token_id)
        .where(
            Staff.account_id == target.account.id,
            Staff.user_id == principal.impersonator_user_id,
            Staff.account_status == AccountStatus.ACTIVE,
            token_acts_for(Staff),
        )
    )
    if (
        impersonator is None
        or Permit.IMPERSONATE not in ROLE_PERMITS[impersonator.role]
        or ROLE_RANK[impersonator.role] <= ROLE_RANK[target.staff.role]
    ):
        raise Unauthenticated()


async def build_actor(
    session: AsyncSession, principal: Principal, account: Account, staff: Staff
) -> Actor:
    """Permits = role table + per-member grants (+ INVITE_USERS when everyone may invite);
    a key's narrowed to its scopes as on every surface but SCIM."""
    connection = await connection_of(session)  # plain columns: no ORM needed
    rows = await connection.execute(
        union_all(
            select(
                cast(StaffPermitGrant.permit, String(32)).label("permit"),
                cast(null(), Integer).label("shared_staff_id"),
            ).where(StaffPermitGrant.staff_id == staff.id),
            select(cast(null(), String(32)), StaffShare.staff_id).where(
                StaffShare.shared_with_id == staff.id
            ),
        )
    )
    grants: set[Permit] = set()
    shared: set[int] = set()
    for permit, shared_staff_id in rows.all():
        if shared_staff_id is not None:
            shared.add(shared_staff_id)
        else:
            grants.add(Permit(permit))
    return _actor(principal, account, staff, grants, shared, Surface.API)


async def member_actor(
    session: AsyncSession, user_id: int, account: Account, staff: Staff
) -> Actor:
    """The actor ``user_id`` is as the member ``staff`` of ``account``, before any token of
    theirs is in use (e.g. to show a new member their record)."""
    principal = Principal(user_id, 0, TokenKind.SESSION, None)  # build_actor ignores the kind
    return await build_actor(session, principal, account, staff)


def _actor(
    principal: Principal,
    account,
    staff,
    grants: set[Permit],
    shared: set[int],
    surface: Surface,
) -> Actor:
    permits = set(ROLE_PERMITS[staff.role]) | grants
    if invites(staff.role, account.everyone_can_invite):
        permits.add(Permit.INVITE_USERS)
    scopes = None
    if principal.scopes is not None:
        # an API key: what its creator may do now, as its scopes that count here allow
        scopes = on_surface(principal.scopes, surface)
        permits = set(narrowed(frozenset(permits), scopes))
    return Actor(
        user_id=principal.user_id,
        account_id=account.id,
        staff_id=staff.id,
        role=staff.role,
        permits=frozenset(permits),
        scopes=scopes,
        token_id=principal.token_id,
        shared_staff_ids=frozenset(shared),
        impersonator_user_id=principal.impersonator_user_id,
        account_timezone=account.timezone,
        account=account,
    )
