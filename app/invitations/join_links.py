"""Join links ("quick registration"): a shareable link into an account, and join requests."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, Permit, Role, refusal_to_hand_out, refuse_impersonation, require
from app.accounts.models import Account
from app.accounts.service import lock_account, reserve_seats
from app.db.base import utcnow
from app.db.retention import Retention
from app.email.links import forgot_password_link, join_link
from app.email.outbox import enqueue
from app.errors import DomainError, ErrorCode, Forbidden, NotFound, ValidationFailed
from app.identity.credentials import PasswordGate, TokenGate
from app.identity.errors import WeakPassword
from app.identity.models import User
from app.identity.notices import send_notice
from app.identity.service import Principal, create_user, get_user_by_email
from app.identity.signup import send_verification
from app.invitations.errors import AlreadyMember, InvalidToken, SignupClosed, TokenExpired
from app.invitations.models import JoinLink, JoinRequest, JoinRequestStatus
from app.invitations.service import role_name
from app.security.passwords import PasswordService, password_problem
from app.security.rate_limits import RateLimiter
from app.security.tokens import new_token, token_digest
from app.staff import queries as staff_queries
from app.staff.membership import (
    AddressHeld,
    activate,
    joining_role_at,
    key_ended,
    key_lives,
    lock_members,
    member_of,
    reserve_join_seat,
)
from app.staff.models import GUEST_KINDS, Staff, StaffKind, default_role
from app.validation import clean_email, clean_text

MAX_DOMAINS = 20


class JoinOutcome(enum.StrEnum):
    JOINED = "JOINED"
    PENDING_APPROVAL = "PENDING_APPROVAL"


def _domains(values: list[str] | None) -> list[str]:
    out = []
    for index, raw in enumerate(values or []):
        domain = raw.strip().lstrip("@").casefold()
        if not domain or "." not in domain or len(domain) > 253 or " " in domain:
            raise DomainError("Not a valid email domain.", field=["allowed_domains", str(index)])
        out.append(domain)
    if len(out) > MAX_DOMAINS:
        raise DomainError(f"At most {MAX_DOMAINS} domains.", field=["allowed_domains"])
    return sorted(set(out))


def link_problems(
    by: Actor | Role,
    role: Role,
    *,
    expires_in_days: int | None = None,
    max_uses: int | None,
    allowed_domains: list[str] | None,
) -> tuple[list[str], list[DomainError]]:
    """A join link's allowed domains as they are stored, and what is wrong with the link
    ``by`` (an actor, or a member of that role) makes: a role they may not hand out
    (``refusal_to_hand_out``; OWNER never), an expiry
    outside 1 to 365 days, max uses outside 1 to 10000, a domain that is none. The rules
    joinLinkCreate and the backup's restore (which holds no expiry in days) hold links to."""
    errors: list[DomainError] = []
    if refusal := refusal_to_hand_out(by, role):  # the owner's role above all: never
        errors.append(Forbidden(refusal, field=["role"]))
    if expires_in_days is not None and not 1 <= expires_in_days <= 365:
        errors.append(DomainError("A link lasts 1 to 365 days.", field=["expires_in_days"]))
    if max_uses is not None and not 1 <= max_uses <= 10_000:
        errors.append(DomainError("Max uses is 1 to 10000.", field=["max_uses"]))
    domains: list[str] = []
    try:
        domains = _domains(allowed_domains)
    except DomainError as exc:
        errors.append(exc)
    return domains, errors


async def create_link(
    session: AsyncSession,
    actor: Actor,
    *,
    role: Role | None = None,
    kind: StaffKind | None = None,
    expires_in_days: int | None = None,
    max_uses: int | None = None,
    allowed_domains: list[str] | None = None,
    requires_approval: bool | None = None,
) -> tuple[str, JoinLink]:
    """Omitted role, expiry and approval come from the account's join-link defaults; a
    link for customers or vendors (``kind``) makes guests unless it names a role."""
    require(actor, Permit.MANAGE_ACCOUNT)
    refuse_impersonation(actor)  # a way in is made under one's own name
    # as an invitation is made: a maker disabled or demoted meanwhile makes no link
    await lock_members(session, actor)
    account = await session.get_one(Account, actor.account_id)
    kind = kind or StaffKind.EMPLOYEE
    if role is None:
        role = default_role(kind) if kind in GUEST_KINDS else Role(account.join_link_role)
    if expires_in_days is None:
        expires_in_days = account.join_link_expiry_days
    if requires_approval is None:
        requires_approval = account.join_link_requires_approval
    domains, errors = link_problems(
        actor,
        role,
        expires_in_days=expires_in_days,
        max_uses=max_uses,
        allowed_domains=allowed_domains,
    )
    if errors:
        raise ValidationFailed(errors)
    token = new_token("rj")
    link = JoinLink(
        account_id=actor.account_id,
        token_digest=token_digest(token),
        role=role,
        kind=kind,
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
        max_uses=max_uses,
        allowed_domains=domains,
        requires_approval=requires_approval,
        created_by_staff_id=actor.staff_id,
        created_by_token_id=actor.api_key_id,
        created_at=utcnow(),
    )
    session.add(link)
    await session.flush()
    return token, link


async def _get_link(session: AsyncSession, actor: Actor, link_id: int) -> JoinLink:
    link = await session.get(JoinLink, link_id)
    if link is None or link.account_id != actor.account_id:
        raise NotFound("Join link", field=["id"])
    return link


async def rotate_link(session: AsyncSession, actor: Actor, link_id: int) -> tuple[str, JoinLink]:
    """A new secret: the old link stops working. Rotating hands out the link's role to
    whoever gets the new one, as making it would (``link_problems``), and makes the link
    the rotator's: it lasts while they could still make it (``withdraw_ways_in``)."""
    require(actor, Permit.MANAGE_ACCOUNT)
    refuse_impersonation(actor)  # a way in is made under one's own name
    await lock_members(session, actor)
    link = await _get_link(session, actor, link_id)
    if refusal := actor.refusal_to_hand_out(link.role):
        raise Forbidden(refusal, field=["id"])
    token = new_token("rj")
    link.token_digest = token_digest(token)
    link.created_by_staff_id = actor.staff_id
    link.created_by_token_id = actor.api_key_id
    await session.flush()
    return token, link


async def disable_link(session: AsyncSession, actor: Actor, link_id: int) -> JoinLink:
    require(actor, Permit.MANAGE_ACCOUNT)
    link = await _get_link(session, actor, link_id)
    if link.disabled_at is None:
        link.disabled_at = utcnow()
        await session.flush()
    return link


async def list_links(session: AsyncSession, actor: Actor) -> list[JoinLink]:
    require(actor, Permit.MANAGE_ACCOUNT)
    return list(
        await session.scalars(
            select(JoinLink).where(JoinLink.account_id == actor.account_id).order_by(JoinLink.id)
        )
    )


def url_for(settings, token: str) -> str:
    return join_link(settings, token)


async def check_link(session: AsyncSession, tokens: TokenGate, token: str) -> None:
    """The error ``join`` would give for this link itself (turned off, expired, used up),
    without counting a use; tells nothing about the account."""
    await _usable_link(session, tokens, token)


async def _usable_link(session: AsyncSession, tokens: TokenGate, token: str) -> JoinLink:
    """The link ``token`` names if it can be used; a look at a token, counted by ``tokens``."""
    await tokens.count(session)
    link = (
        await session.scalar(select(JoinLink).where(JoinLink.token_digest == token_digest(token)))
        if token and len(token) < 200
        else None
    )
    if link is None:
        raise InvalidToken()
    if link.disabled_at is not None or await key_ended(session, link.created_by_token_id):
        raise DomainError(
            "This join link was turned off.", field=["token"], code=ErrorCode.LINK_DISABLED
        )
    if link.expires_at is not None and link.expires_at <= utcnow():
        raise TokenExpired("join link")
    if link.max_uses is not None and link.uses >= link.max_uses:
        raise DomainError(
            "This join link has been used up.", field=["token"], code=ErrorCode.LIMIT_REACHED
        )
    return link


@dataclass
class JoinResult:
    outcome: JoinOutcome
    account: Account
    email_verification_required: bool


async def count_join(session: AsyncSession, limiter, address: str | None) -> None:
    """Every way to join through a link (``joinLinkJoin``, the /join page) counts against
    one per-address limit, before the link is looked at."""
    await limiter.hit(session, "join_address", address)


async def join(
    session: AsyncSession,
    passwords: PasswordService,
    settings,
    *,
    token: str,
    email: str,
    password: str | None,
    first_name: str,
    last_name: str,
    principal: Principal | None,
    gate: PasswordGate,
    tokens: TokenGate,
) -> JoinResult:
    """Someone not signed in as the address's user gives a password: the attempt counts
    against the login limits whether or not the address has a login (so the limit does not
    tell them apart). A known address with a wrong password, or with the right one when
    nothing can change (already a member or asked), gets a newcomer's answer."""
    link = await _usable_link(session, tokens, token)
    return await join_through(
        session,
        passwords,
        settings,
        link,
        email=email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        principal=principal,
        gate=gate,
    )


async def join_through(
    session: AsyncSession,
    passwords: PasswordService,
    settings,
    link: JoinLink,
    *,
    email: str,
    password: str | None,
    first_name: str,
    last_name: str,
    principal: Principal | None,
    gate: PasswordGate,
) -> JoinResult:
    """Join the account of ``link``: a stored link (``join``), or an account's open door
    (``app.invitations.open_signup``), a link never stored, whose uses are not counted."""
    email = clean_email(email, required=True)
    _check_domain(link, email)
    first = clean_text(first_name, "first_name", max_length=100, required=True, label="First name")
    last = clean_text(last_name, "last_name", max_length=100, required=True, label="Last name")
    user = await get_user_by_email(session, email)
    signed_in = user is not None and principal is not None and principal.is_signed_in_user(user.id)
    if not signed_in:
        await gate.count(session, email)
    if user is not None:
        decoy = await _check_known_user(
            session, settings, link, user, email, password, signed_in=signed_in, gate=gate
        )
        if decoy is not None:
            return decoy
    else:
        try:
            _check_new_password(email, password)
        except DomainError:
            # An address with a login spends one argon2 verification before any answer
            # (``_check_known_user``); a new one spends it too, or the time would tell them
            # apart while the answers (REQUIRED, WEAK_PASSWORD) are the same.
            await gate.matches(None, password, held=True)
            raise
    # A newcomer's password is hashed before the account is locked (``_use`` takes its seat
    # under the account's lock): on PostgreSQL, joins of one account waiting for argon2
    # would otherwise hold that lock, and every change of its members wait, one hash after
    # another.
    hashed = await passwords.hash(password, held=True) if user is None and password else None
    if (user is None or user.email_verified_at is None) and await _held_by_a_record(
        session, link.account_id, email
    ):
        return await _unproven(
            session, passwords, settings, gate.limiter, link, user, email, password, first, last,
            hashed,
        )  # fmt: skip
    account = await session.get_one(Account, link.account_id)
    await _use(session, link, email)
    verify = False
    if user is None:
        user = await create_user(
            session, passwords, email=email, password=password, first_name=first, last_name=last,
            hashed=hashed,
        )  # fmt: skip
        await send_verification(session, settings, user)
        verify = True
    elif user.email_verified_at is None:  # their password, but the address not confirmed
        await send_verification(session, settings, user)
        verify = True
    if link.requires_approval:
        await _ask_approval(session, settings, account, link, user, first, last, email)
        return JoinResult(JoinOutcome.PENDING_APPROVAL, account, verify)
    try:
        await activate(
            session,
            account_id=link.account_id,
            user=user,
            role=link.role,
            first_name=first,
            last_name=last,
            kind=link.kind,
            confirmed=not verify,  # UNCONFIRMED, a seat reserved, until the email is confirmed
            proven=not verify,
        )
    except AddressHeld:  # a record came to hold the address since the look above
        pass  # the newcomer's answer, their login made: as ``_unproven`` leaves it
    return JoinResult(JoinOutcome.JOINED, account, verify)


def _check_domain(link: JoinLink, email: str) -> None:
    if link.allowed_domains and email.rsplit("@", 1)[1] not in link.allowed_domains:
        raise DomainError(
            "This link is only for addresses at " + ", ".join(link.allowed_domains) + ".",
            field=["email"],
            code=ErrorCode.DOMAIN_NOT_ALLOWED,
        )


async def _check_known_user(
    session: AsyncSession,
    settings,
    link: JoinLink,
    user: User,
    email: str,
    password: str | None,
    *,
    signed_in: bool,
    gate: PasswordGate,
) -> JoinResult | None:
    """An address with a login may join if signed in as it or with its password, and
    is neither a member nor waiting for a decision. Returns the newcomer's answer (a
    decoy) when one not signed in may not learn more, else None to go on."""
    if not signed_in and not await gate.matches(user, password, held=True):
        return await _decoy(session, settings, gate.limiter, link, user, password)
    member = await member_of(session, link.account_id, user.id)
    pending = await _waiting_request(session, link.account_id, user.id)
    if not signed_in and (member or pending):
        # the right password, but nothing to do: answer (and count) as for a wrong one
        return await _decoy(session, settings, gate.limiter, link, user, password)
    if not signed_in and user.email_verified_at is not None:
        # rolled back with the rest if the join fails further on. An unconfirmed login's
        # password proves nothing of the address (it may be a decoy's, ``_unproven``): its
        # attempts stay counted, as a newcomer's repeated joins are
        await gate.succeeded(session, email)
    if member:
        raise AlreadyMember()
    if pending:
        raise _asked_already()
    return None


async def _waiting_request(session: AsyncSession, account_id: int, user_id: int) -> int | None:
    """The id of the login's request to join the account waiting for a decision, if any."""
    return await session.scalar(
        select(JoinRequest.id).where(
            JoinRequest.account_id == account_id,
            JoinRequest.user_id == user_id,
            JoinRequest.status == JoinRequestStatus.PENDING,
        )
    )


def _asked_already() -> DomainError:
    return DomainError(
        "You already asked to join; an administrator will decide.",
        field=["email"],
        code=ErrorCode.INVALID_STATE,
    )


def _check_new_password(email: str, password: str | None) -> None:
    if not password:
        raise DomainError("Choose a password.", field=["password"], code=ErrorCode.REQUIRED)
    if problem := password_problem(password, email):
        raise WeakPassword(problem)


# Join requests waiting for the administrators at most, per link. Anyone holding a link
# that needs approval may ask, and every request emails every administrator: past this,
# asking through that link is refused until they decide some (``_check_waiting``). Per
# link: a leaked link filled up blocks no other, and turning it off ends its asking.
MAX_WAITING = 200


async def _check_waiting(session: AsyncSession, link: JoinLink) -> None:
    """Refuse a request to join past ``MAX_WAITING`` waiting through ``link``, counted
    under the account's lock (concurrent requests never pass it). ``_use`` asks it of
    newcomers and decoys alike: the answer tells nothing of who has a login."""
    await lock_account(session, link.account_id)
    waiting = await session.scalar(
        select(func.count())
        .select_from(JoinRequest)
        .where(
            JoinRequest.join_link_id == link.id,
            JoinRequest.status == JoinRequestStatus.PENDING,
        )
    )
    if (waiting or 0) >= MAX_WAITING:
        raise DomainError(
            "Too many requests to join through this link wait for the administrators: "
            "try again later.",
            code=ErrorCode.LIMIT_REACHED,
        )


async def _use(
    session: AsyncSession, link: JoinLink, email: str, *, as_newcomer: bool = False
) -> None:
    """Take a seat for the login at ``email`` (unless an administrator approves first:
    a free one, or the one an invitation of their record holds, ``reserve_join_seat``)
    and one of the link's uses, in one conditional UPDATE so concurrent joins never pass
    ``max_uses``, nor use a link turned off or rotated since it was read (its maker
    disabled meanwhile, say: ``withdraw_ways_in`` holds the account lock the seat waits
    for). ``as_newcomer``: a decoy's, whose seat is checked as a newcomer's at a new
    address would be (a free one for the link's role), whatever record holds ``email``."""
    if not link.requires_approval:
        if as_newcomer:
            await reserve_seats(session, link.account_id, role=link.role)
        else:
            await reserve_join_seat(session, link.account_id, email, link.role)
    else:
        await _check_waiting(session, link)
    if link.id is None:  # an open door (self sign-up): no uses to count
        # but the account may have stopped taking sign-ups since it was read: asked again
        # of the account as the lock read it (``reserve_join_seat``)
        if not (await session.get_one(Account, link.account_id)).self_signup:
            raise SignupClosed()
        return
    used = await session.execute(
        update(JoinLink)
        .where(
            JoinLink.id == link.id,
            JoinLink.token_digest == link.token_digest,
            JoinLink.disabled_at.is_(None),
            or_(JoinLink.max_uses.is_(None), JoinLink.uses < JoinLink.max_uses),
            key_lives(JoinLink.created_by_token_id, utcnow()),  # not ended meanwhile
        )
        .values(uses=JoinLink.uses + 1)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], used).rowcount != 1:
        digest = link.token_digest
        await session.refresh(link)
        if link.token_digest != digest:
            raise InvalidToken()
        if link.disabled_at is not None or await key_ended(session, link.created_by_token_id):
            raise DomainError(
                "This join link was turned off.", field=["token"], code=ErrorCode.LINK_DISABLED
            )
        raise DomainError(
            "This join link has been used up.", field=["token"], code=ErrorCode.LIMIT_REACHED
        )


async def _ask_approval(
    session: AsyncSession,
    settings,
    account: Account,
    link: JoinLink,
    user: User,
    first: str,
    last: str,
    email: str,
) -> None:
    """A join request for the administrators to decide, who are told by email. It asks
    for the role approving it gives: the link's, or the owner's at the address of the
    owner's record (``joining_role``), which approving keeps the owner's."""
    # asked again under the account's lock (``_check_waiting``): a request the same login
    # made meanwhile (a double submit, another link of the account) is not made twice
    if await _waiting_request(session, link.account_id, user.id):
        raise _asked_already()
    role = await joining_role_at(session, link.account_id, email, link.role)
    session.add(
        JoinRequest(
            account_id=link.account_id,
            join_link_id=link.id,
            user_id=user.id,
            role=role,
            first_name=first,
            last_name=last,
            created_at=utcnow(),
        )
    )
    await session.flush()
    await _notify_admins(session, settings, account, role, f"{first} {last}", email)


async def _held_by_a_record(session: AsyncSession, account_id: int, email: str) -> bool:
    return (
        await session.scalar(
            select(Staff.id).where(Staff.account_id == account_id, Staff.email == email)
        )
    ) is not None


async def _unproven(
    session: AsyncSession,
    passwords: PasswordService,
    settings,
    limiter: RateLimiter,
    link: JoinLink,
    user: User | None,
    email: str,
    password: str | None,
    first: str,
    last: str,
    hashed: str | None,
) -> JoinResult:
    """Someone who has not shown they receive ``email``'s mail (no login there, or one
    whose address is not confirmed) joins where a record already holds that address: an
    invited person's, a former member's, the owner's. Joining would revoke the record's
    invitation, rename it and bind it to a login whose password a stranger may have chosen,
    before anyone read the address's mail. So no record changes, and everything else is
    as for a newcomer, so that nothing tells the two apart: the same answer, the seat
    checked and the link's use counted as for a newcomer (``_use``), and a login at a new
    address made with the password given (unconfirmed: only that password confirms it,
    ``signup.verify_email``), whose login then answers as a newcomer's would. The address
    is told how to take its place instead of being asked to confirm it (its invitation,
    which an administrator sends)."""
    answer = await _as_a_newcomer(session, settings, limiter, link, email, "join_record")
    if user is None:  # its password hashed before the account was locked (``join_through``)
        await create_user(
            session, passwords, email=email, password=password, first_name=first, last_name=last,
            hashed=hashed,
        )  # fmt: skip
    return answer


async def _decoy(
    session, settings, limiter: RateLimiter, link: JoinLink, user: User, password: str | None
):
    """An address that already has a login, without its password: answer exactly as for a
    new person (so the link cannot tell who has an account) and email the owner of the
    address how to join instead. Nothing else changes."""
    if not password:
        raise DomainError("Choose a password.", field=["password"], code=ErrorCode.REQUIRED)
    if problem := password_problem(password, user.email):
        raise WeakPassword(problem)
    return await _as_a_newcomer(session, settings, limiter, link, user.email, "join_existing")


async def _as_a_newcomer(
    session: AsyncSession,
    settings,
    limiter: RateLimiter,
    link: JoinLink,
    email: str,
    template: str,
) -> JoinResult:
    """A decoy's answer (``_decoy``, ``_unproven``): a newcomer's, with the seat checked
    and one of the link's uses taken as a newcomer's would be (a full account, or a link
    with few uses left, would otherwise tell the two apart); the address is emailed
    ``template`` instead of being asked to confirm it (a notice: at most one a day,
    ``app.identity.notices``)."""
    account = await session.get_one(Account, link.account_id)
    await _use(session, link, email, as_newcomer=True)
    await send_notice(
        session,
        settings,
        limiter,
        template=template,
        to=email,
        account_id=account.id,
        context={"email": email, "account": account.name, "link": forgot_password_link(settings)},
    )
    outcome = JoinOutcome.PENDING_APPROVAL if link.requires_approval else JoinOutcome.JOINED
    return JoinResult(outcome, account, True)


async def _notify_admins(
    session, settings, account: Account, role: Role, person: str, email: str
) -> None:
    # to their logins' addresses, which only they change (``login_address``)
    admins = await session.scalars(
        staff_queries.administrators(account.id)
        .join(User, User.id == Staff.user_id)
        .with_only_columns(User.email)
    )
    for admin_email in admins:
        await enqueue(
            session,
            settings.keyring,
            template="join_request",
            to=admin_email,
            account_id=account.id,
            context={
                "person": person,
                "email": email,
                "account": account.name,
                "role_name": role_name(role),
            },
        )


def shows_requester_email(actor: Actor) -> bool:
    """A requester's email is personal data, shown as the directory shows a record's email
    to someone else: with ViewPersonalData (an administrator's API key without the
    ``personal_data`` scope sees the name and not the address)."""
    return actor.can(Permit.VIEW_PERSONAL_DATA)


async def list_requests(
    session: AsyncSession, actor: Actor, status: JoinRequestStatus | None
) -> list[tuple[JoinRequest, str | None]]:
    """The account's join requests, oldest first, each with its requester's email where
    ``actor`` may see it (``shows_requester_email``), else None."""
    require(actor, Permit.MANAGE_STAFF)
    stmt = (
        select(JoinRequest, User.email)
        .join(User, User.id == JoinRequest.user_id)
        .where(JoinRequest.account_id == actor.account_id)
    )
    if status is not None:
        stmt = stmt.where(JoinRequest.status == status)
    shown = shows_requester_email(actor)
    rows = (await session.execute(stmt.order_by(JoinRequest.id))).all()
    return [(request, email if shown else None) for request, email in rows]


def _decided_before(before):
    return (
        JoinRequest.status != JoinRequestStatus.PENDING,
        JoinRequest.decided_at < before,
    )


# Requests approved or rejected long ago (``join_requests_retention_days``). Nothing reads a
# decided request again but ``joinRequests`` (the decision itself is in the audit log, and
# an approved one's member is a staff record): kept for ever they would only make that list
# grow, and its cost with it, until it could no longer be read. A waiting one always stays.
RETENTION = Retention(JoinRequest.id, _decided_before)


async def requester_email(session: AsyncSession, actor: Actor, request: JoinRequest) -> str | None:
    """The email of the login that asked to join, as ``list_requests`` shows it to ``actor``."""
    if not shows_requester_email(actor):
        return None
    return (await session.get_one(User, request.user_id)).email


async def _offered(
    session: AsyncSession, request: JoinRequest, link: JoinLink | None, email: str
) -> Role:
    """The role approving ``request`` offers (``activate`` applies ``joining_role``). A
    request at the owner's address asks for OWNER (``_ask_approval``), which is what
    approving gives while the address is the owner's record's; the offer behind it is its
    link's, which is what a join there gives if the record has changed since."""
    if request.role != Role.OWNER:
        return request.role
    if link is not None:
        return link.role
    if await joining_role_at(session, request.account_id, email, Role.GUEST) == Role.OWNER:
        return Role.OWNER  # still the owner's record's address: it stays the owner's
    raise DomainError(
        "This request was for the owner's record, which has changed since, and its join "
        "link is gone: reject it and send the person a new link or an invitation.",
        field=["id"],
        code=ErrorCode.INVALID_STATE,
    )


async def decide(
    session: AsyncSession, actor: Actor, request_id: int, *, approve: bool
) -> tuple[JoinRequest, Staff | None]:
    require(actor, Permit.MANAGE_STAFF)
    # the actor's role re-read under the account lock: an approver demoted meanwhile
    # hands out no role they no longer hold (and two approvals take turns)
    await lock_members(session, actor)
    request = await session.get(JoinRequest, request_id, populate_existing=True)
    if request is None or request.account_id != actor.account_id:
        raise NotFound("Join request", field=["id"])
    if request.status != JoinRequestStatus.PENDING:
        raise DomainError(
            f"This request was already {request.status.value.lower()}.",
            field=["id"],
            code=ErrorCode.INVALID_STATE,
        )
    staff = None
    if approve:
        user = await session.get_one(User, request.user_id)
        link = await session.get(JoinLink, request.join_link_id)
        offered = await _offered(session, request, link, user.email)
        # approving hands the role out: the approver's own (``refusal_to_offer``: the
        # owner's record stays the owner's, which any administrator may let in)
        if refusal := actor.refusal_to_offer(offered):
            raise Forbidden(refusal, field=["id"])
        await reserve_join_seat(session, actor.account_id, user.email, offered)
        try:
            staff = await activate(
                session,
                account_id=actor.account_id,
                user=user,
                role=offered,
                first_name=request.first_name,
                last_name=request.last_name,
                kind=link.kind if link is not None else None,
                confirmed=user.email_verified_at is not None,
                proven=user.email_verified_at is not None,
            )
        except AddressHeld:
            # a record came to hold the address after the request: approving would bind
            # it to a login whose address nobody has confirmed (``_unproven``)
            raise DomainError(
                "The account now has a record at this person's address, which they have "
                "not confirmed: reject the request and invite that record instead.",
                field=["id"],
                code=ErrorCode.INVALID_STATE,
            ) from None
    request.status = JoinRequestStatus.APPROVED if approve else JoinRequestStatus.REJECTED
    request.decided_by_staff_id = actor.staff_id
    request.decided_at = utcnow()
    await session.flush()
    return request, staff
