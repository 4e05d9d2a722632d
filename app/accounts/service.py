"""Accounts: creation with an owner, the seat ledger, the per-account staff sid sequence."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from app.access import Actor, Permit, Role, require
from app.accounts.errors import SeatLimitReached, SlugTaken
from app.accounts.models import Account
from app.accounts.plans import MAX_CUSTOM_SEATS
from app.accounts.queries import SEAT_COUNTS
from app.db.base import utcnow
from app.db.prepared import connection_of
from app.errors import DomainError, ErrorCode
from app.identity.credentials import PasswordGate
from app.identity.errors import InvalidCredentials
from app.identity.models import User
from app.identity.service import create_user, get_user_by_email
from app.security.passwords import PasswordService
from app.staff.models import AccountStatus, Staff
from app.validation import clean_text, name_key, sort_key

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")
DEFAULT_SEAT_LIMIT = 5


@dataclass(frozen=True)
class Seats:
    """The seat ledger. Guests take seats only where the account says so
    (``guests_take_seats``); either way they are counted on their own."""

    limit: int
    used: int  # active members taking a seat
    reserved: int  # pending invitations that will take one
    guests: int = 0  # active guests (in ``used`` too when they take seats)
    guests_reserved: int = 0  # pending invitations of guests (in ``reserved`` too, likewise)
    guests_take_seats: bool = False

    @property
    def taken(self) -> int:
        """Seats used or reserved (what the limit bounds)."""
        return self.used + self.reserved

    @property
    def available(self) -> int:
        return max(0, self.limit - self.taken)


def slugify(name: str) -> str:
    """A slug made from an account's name, as a typed one must be (``check_new_account``):
    three characters at least, never all digits, which a realm reads as an account id
    (``account_by_realm``: an account named "2024" would answer for account 2024), nor in
    the placeholders' space (``PENDING_PREFIX``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name_key(name)).strip("-")[:40].strip("-")
    if len(slug) < 3 or slug.isdigit() or slug.startswith(PENDING_PREFIX):
        return f"account-{slug}".strip("-")
    return slug


async def next_staff_sid(session: AsyncSession, account_id: int, count: int = 1) -> int:
    """Atomically take the next per-account sid (an UPDATE ... RETURNING, race-free); with
    ``count``, that many in a row, of which the last is returned. Counted on from the
    largest sid in use where the sequence is behind it (a row written behind its back:
    the next record still gets a free sid, and the sequence is right again)."""
    used = (
        select(func.coalesce(func.max(Staff.sid), 0))
        .where(Staff.account_id == account_id)
        .scalar_subquery()
    )
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(staff_seq=case((Account.staff_seq < used, used), else_=Account.staff_seq) + count)
        .returning(Account.staff_seq)
        .execution_options(synchronize_session=False)
    )
    last = result.scalar_one()
    # The ORM cannot work the CASE out in Python, so it would expire the attribute, and a
    # later read of it would go to the database outside the async session's greenlet: the
    # Account the session holds, if any, is told the new value instead.
    held = session.identity_map.get(identity_key(Account, account_id))
    if held is not None:
        set_committed_value(held, "staff_seq", last)
    return last


async def check_new_account(
    session: AsyncSession, *, name: str, slug: str | None
) -> tuple[str, str | None]:
    """The cleaned name and chosen slug of an account to be made, or the error its
    creation would give. Sign-up runs this before it looks at the email, so the answer for
    a bad name or slug does not depend on whether the email has a login."""
    name = clean_text(name, "name", max_length=200, required=True, label="Account name")
    if slug is None:
        return name, None
    slug = slug.strip().casefold()
    if not _SLUG.match(slug) or slug.isdigit() or slug.startswith(PENDING_PREFIX):
        raise DomainError(
            "A slug is 3-63 lowercase letters, digits and dashes, not all digits.",
            field=["slug"],
        )
    if await session.scalar(select(Account.id).where(Account.slug == slug)):
        raise SlugTaken()
    return name, slug


# The placeholder slug of a signed-up account until its owner confirms their email: random,
# so that no slug a client could ask for is taken before then.
PENDING_PREFIX = "pending-"


async def create_pending_account(
    session: AsyncSession,
    *,
    name: str,
    owner: User,
    slug: str | None,
    seat_limit: int,
    owner_first_name: str,
    owner_last_name: str,
) -> tuple[Account, Staff]:
    """A signed-up account: it takes ``slug`` (or one made from its name) only when its
    owner confirms their email (``take_pending_slugs``). Until then it holds a random
    placeholder, so a sign-up takes no slug a later one could find taken: sign-up answers
    alike whether or not the address has a login, and what it leaves behind must too."""
    name, slug = await check_new_account(session, name=name, slug=slug)
    account, staff = await create_account(
        session,
        name=name,
        owner=owner,
        slug=PENDING_PREFIX + secrets.token_hex(8),
        seat_limit=seat_limit,
        owner_first_name=owner_first_name,
        owner_last_name=owner_last_name,
        placeholder=True,
    )
    account.pending_slug = slug or slugify(name)
    await session.flush()
    return account, staff


async def take_pending_slugs(session: AsyncSession, user_id: int) -> None:
    """The user confirmed their email: each account they signed up for takes the slug it
    asked for, or, when another account has taken it since, that slug with a suffix."""
    pending = await session.execute(
        select(Account.id, Account.pending_slug)
        .join(Staff, Staff.account_id == Account.id)
        .where(
            Staff.user_id == user_id,
            Staff.role == Role.OWNER,
            Account.pending_slug.is_not(None),
        )
        .order_by(Account.id)
    )
    for account_id, wanted in pending.tuples():
        assert wanted is not None  # the WHERE says so
        slug = wanted
        for _ in range(5):
            if not await session.scalar(select(Account.id).where(Account.slug == slug)):
                try:
                    async with session.begin_nested():
                        await session.execute(
                            update(Account)
                            .where(Account.id == account_id)
                            .values(slug=slug, pending_slug=None)
                            .execution_options(synchronize_session=False)
                        )
                    break
                except IntegrityError:  # taken by a concurrent request after the look
                    pass
            slug = f"{wanted[:55]}-{secrets.token_hex(3)}"
        held = session.identity_map.get(identity_key(Account, account_id))
        if held is not None:
            set_committed_value(held, "slug", slug)


async def create_account(
    session: AsyncSession,
    *,
    name: str,
    owner: User,
    slug: str | None = None,
    seat_limit: int = DEFAULT_SEAT_LIMIT,
    owner_first_name: str | None = None,
    owner_last_name: str | None = None,
    placeholder: bool = False,
) -> tuple[Account, Staff]:
    """An account and its owner's record. ``slug``: the one asked for (SlugTaken when it
    is), else one made from the name; with ``placeholder``, ``slug`` is the random one of a
    signed-up account (``create_pending_account``), not checked as a client's would be."""
    if placeholder:
        name = clean_text(name, "name", max_length=200, required=True, label="Account name")
    else:
        name, slug = await check_new_account(session, name=name, slug=slug)
    chosen = slug is not None
    if not chosen:
        base = slugify(name)
        slug = base
        while await session.scalar(select(Account.id).where(Account.slug == slug)):
            slug = f"{base}-{secrets.token_hex(3)}"
    if not 1 <= seat_limit <= MAX_CUSTOM_SEATS:
        raise DomainError(f"An account has 1 to {MAX_CUSTOM_SEATS} seats.", field=["seats"])
    for tries_left in range(4, -1, -1):
        account = Account(
            name=name,
            slug=slug,
            seat_limit=seat_limit,
            plan="CUSTOM" if seat_limit != DEFAULT_SEAT_LIMIT else "FREE",
        )
        try:
            async with session.begin_nested():
                session.add(account)
                await session.flush()
            break
        except IntegrityError:  # a concurrent request took this slug after our check
            if chosen or not tries_left:
                raise SlugTaken() from None
            slug = f"{base}-{secrets.token_hex(3)}"
    # No name given is no name: never one made up from the email (or a placeholder).
    first = owner_first_name or owner.first_name or ""
    last = owner_last_name or owner.last_name or ""
    staff = Staff(
        account_id=account.id,
        sid=await next_staff_sid(session, account.id),
        user_id=owner.id,
        role=Role.OWNER,
        account_status=AccountStatus.ACTIVE,
        first_name=first,
        last_name=last,
        last_name_key=sort_key(last),
        email=owner.email,
    )
    session.add(staff)
    await session.flush()
    return account, staff


def takes_seat(account: Account, role: Role) -> bool:
    """Whether a member of ``role`` takes one of the account's seats."""
    return role != Role.GUEST or account.guests_take_seats


async def seats(session: AsyncSession, account: Account) -> Seats:
    """The ledger of ``account`` (its limit and setting as given), counted in one statement."""
    params = {"account_id": account.id, "now": utcnow()}
    (counts,) = await SEAT_COUNTS.all(await connection_of(session), params)
    used, unconfirmed, pending, guests, guests_unconfirmed, guests_pending = counts
    # reserved: pending invitations, and members who have yet to confirm their email
    reserved = pending + unconfirmed
    guests_reserved = guests_pending + guests_unconfirmed
    if account.guests_take_seats:
        used, reserved = used + guests, reserved + guests_reserved
    return Seats(
        limit=account.seat_limit,
        used=used,
        reserved=reserved,
        guests=guests,
        guests_reserved=guests_reserved,
        guests_take_seats=account.guests_take_seats,
    )


async def seat_ledger(session: AsyncSession, actor: Actor, shown: Account | None = None) -> Seats:
    """The actor's account's ledger: for the directory's members (not guests). ``shown``
    is the account the caller holds, if any: when it is the actor's (as a change in this
    request left it, or as the request read it), its limit is the one counted against."""
    require(actor, Permit.VIEW_STAFF)
    if shown is None or shown.id != actor.account_id:
        shown = await get_account(session, actor)
    return await seats(session, shown)


async def get_account(session: AsyncSession, actor: Actor) -> Account:
    """The actor's own account: as the request read it with the actor (a read-only record
    from authentication, not reread), else read now. A change to the account reads the
    entity it changes itself (``lock_account``), never this."""
    if actor.account is not None:
        return actor.account
    return await session.get_one(Account, actor.account_id)


async def find_account(session: AsyncSession, actor: Actor, account_id: int) -> Account | None:
    """An account by id, as the actor may look it up: only their own is ever found."""
    return await get_account(session, actor) if account_id == actor.account_id else None


async def lock_account(session: AsyncSession, account_id: int) -> Account:
    """Serialise seat-consuming changes of one account.

    PostgreSQL: a row lock on the account held to commit, in the mode that does not
    block rows that merely refer to the account (SELECT ... FOR NO KEY UPDATE): every
    insert of an audit entry, staff record or invitation checks its foreign key with a KEY
    SHARE lock on the account row, which FOR UPDATE would make wait. A request holding an
    invitation's row while it inserts its audit entry then waited for a join holding the
    account while it waited for that invitation: a deadlock. Lockers still wait for each
    other. SQLite: writing requests already hold the database write lock (BEGIN IMMEDIATE).

    Lock order: a request that sends invitation emails counts them against the account's
    daily limit (``app.invitations.service.count_sent``, which updates the account's
    ``invitations_account`` rate-limit row and holds it to commit) BEFORE it takes this
    lock, never after: invitationCreate, invitationBulkCreate, invitationResend,
    staffCreate and REST staff/add with an invitation, staffRegister, SCIM's create and
    staffImport with invite all do. A request counting with the account locked waited for
    the rate-limit row held by one waiting for the account: a deadlock on PostgreSQL.
    """
    locked = await session.scalars(
        select(Account)
        .where(Account.id == account_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return locked.one()


async def refuse_past_cap(
    session: AsyncSession, account_id: int, model, most: int, refusal: str
) -> None:
    """LIMIT_REACHED (``refusal``) when the account already holds ``most`` rows of
    ``model``: counted with the account locked (``lock_account``), so concurrent creations
    never pass the cap together (the query cost model relies on some caps)."""
    await lock_account(session, account_id)
    held = await session.scalar(
        select(func.count()).select_from(model).where(model.account_id == account_id)
    )
    if (held or 0) >= most:
        raise DomainError(refusal, code=ErrorCode.LIMIT_REACHED)


async def reserve_seats(
    session: AsyncSession, account_id: int, count: int = 1, *, role: Role
) -> Seats:
    """Check, under the account lock, that ``count`` more seats are free for members of
    ``role`` (guests need none unless the account says they take seats)."""
    account = await lock_account(session, account_id)
    ledger = await seats(session, account)
    if takes_seat(account, role) and ledger.available < count:
        raise SeatLimitReached(ledger)
    return ledger


async def create_account_for_login(
    session: AsyncSession,
    passwords: PasswordService,
    gate: PasswordGate,
    *,
    name: str,
    email: str,
    password: str,
    slug: str | None,
    seat_limit: int,
) -> tuple[Account, Staff]:
    """A new account owned by the login ``email`` (the operator's ``roster account
    create``). A new login is made, verified; an existing one must give its own password:
    a wrong one raises InvalidCredentials, with the attempt counted in the session and
    nothing else changed."""
    user = await get_user_by_email(session, email)
    if user is None:
        user = await create_user(session, passwords, email=email, password=password, verified=True)
    elif not await gate.check(session, user, password):
        raise InvalidCredentials()
    return await create_account(session, name=name, owner=user, slug=slug, seat_limit=seat_limit)
