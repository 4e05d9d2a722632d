"""Membership: a staff record linked to a user's login. Joining (an invitation accepted, a
join link used, a direct registration) makes one ACTIVE, or UNCONFIRMED (holding a seat as
reserved) until the login confirms its email; administering members disables, enables,
deletes them and changes their roles."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    literal,
    literal_column,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.access import (
    ROLE_PERMITS,
    Actor,
    Permit,
    Role,
    joining_role,
    may_assign,
    may_offer,
    refuse_impersonation,
    require,
)
from app.access.roles import invites
from app.accounts.models import Account
from app.accounts.service import (
    lock_account,
    next_staff_sid,
    reserve_seats,
    take_pending_slugs,
    takes_seat,
)
from app.audit import changes
from app.db.base import UTCDateTime, utcnow
from app.db.removal import remove, remove_all
from app.db.unique import ALREADY_THERE, claim
from app.errors import DomainError, ErrorCode, Forbidden
from app.identity.models import AuthToken, User, UserToken, UserTokenPurpose
from app.identity.service import revoke_api_token
from app.invitations.errors import InvitationRevoked
from app.invitations.models import (
    ENABLED_BY_KEY,
    MAX_EXPIRY_DAYS,
    OPEN_BY_KEY,
    Invitation,
    InvitationStatus,
    JoinLink,
)
from app.projects.models import Project
from app.staff import access, stamps
from app.staff.ending import end_member_tokens, release_login, remember_end
from app.staff.errors import AlreadyMember, StaffEmailTaken
from app.staff.models import (
    AccountStatus,
    EndedMembership,
    Staff,
    StaffKind,
    StaffPermitGrant,
    StaffShare,
)
from app.staff.service import (
    get_staff,
    grant_problem,
    granted_permits,
    lock_members,
    redundant_grant,
)
from app.validation import sort_key

# an invitation not yet accepted: pending, or expired (a resend revives it)
OPEN_INVITATIONS = (InvitationStatus.PENDING, InvitationStatus.EXPIRED)


async def _managed(session: AsyncSession, actor: Actor, staff_id: int) -> Staff:
    await lock_members(session, actor)
    staff = await get_staff(session, actor, staff_id, field="staff_id")
    if staff.id == actor.staff_id:
        raise Forbidden("You cannot do this to yourself.", field=["staff_id"])
    if not access.can_manage(actor, staff.id, staff.role):
        raise Forbidden("You may only manage members below your own role.", field=["staff_id"])
    return staff


async def revoke_open_invitations(session: AsyncSession, staff: Staff) -> int:
    """Revoke every invitation of ``staff`` not yet accepted (pending, or expired and so
    still resendable): its link answers INVITATION_REVOKED and the seat it held is free.
    For a record that stops being invitable: disabled, deleted, or become a membership
    by any way but accepting the invitation (``activate``: a join link, an approved join
    request, a sign-up into the account...), where an invitation left pending would count
    a second seat next to the member and its link would still name the record. And for
    a record invited anew (``create_invitation``, at its address or another): the new
    invitation is its one, and an expired one resent would be a second pending invitation
    and a second reserved seat.

    REVOKED (withdrawn), not ACCEPTED: nobody used the link, and the member's role is the
    one they joined with, not the invitation's. The changes are ORM changes, so the audit
    log and the ``invitation.revoked`` webhook show them as every other revocation. The
    rows are locked first (PostgreSQL; as accepting locks its invitation before its
    record), so one accepted meanwhile is skipped, not turned into a revoked one.
    Returns how many were revoked; the caller sets the record's own state."""
    found = list(
        await session.scalars(
            select(Invitation)
            .where(Invitation.staff_id == staff.id, Invitation.status.in_(OPEN_INVITATIONS))
            .order_by(Invitation.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    now = utcnow()
    for invitation in found:
        invitation.status = InvitationStatus.REVOKED
        invitation.revoked_at = now
    return len(found)


async def withdraw_ways_in(session: AsyncSession, staff: Staff, standing: Role | None) -> None:
    """What a member opened the account to lasts only while they could still open it, as
    their API keys do: their invitations not yet accepted and their join links. For a
    member who can no longer act in the account (``standing`` None: disabled, deleted),
    all of them; for one given a lower role (``standing``), those that role could not
    make: an invitation as a role it may not offer (``may_offer``), or at all without
    INVITE_USERS (the role's, or the account's everyoneCanInvite setting); a join link
    without MANAGE_ACCOUNT, or handing out a role above it. Otherwise a member let go, or
    an administrator made an editor, would keep a way back in as an administrator (a link
    of their own making, or an invitation to a second address of theirs).

    Invitations are revoked as ``revoke`` revokes one (the link answers
    INVITATION_REVOKED, the seat is free, an invited record is NOT_INVITED again), links
    disabled as ``joinLinkDisable`` disables one; both as ORM changes, so the audit log and
    webhooks show them as the member's own withdrawals would be shown."""
    now = utcnow()
    account = await session.get_one(Account, staff.account_id)
    may_invite = standing is not None and invites(standing, account.everyone_can_invite)
    invitations = await session.scalars(
        select(Invitation)
        .where(
            Invitation.account_id == staff.account_id,
            Invitation.inviter_staff_id == staff.id,
            Invitation.status.in_(OPEN_INVITATIONS),
        )
        .order_by(Invitation.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    await _revoke_invitations(
        session,
        [
            invitation
            for invitation in invitations
            if not (may_invite and standing is not None and may_offer(standing, invitation.role))
        ],
        now,
    )
    links = standing is not None and Permit.MANAGE_ACCOUNT in ROLE_PERMITS[standing]
    for link in await session.scalars(
        select(JoinLink).where(
            JoinLink.account_id == staff.account_id,
            JoinLink.created_by_staff_id == staff.id,
            JoinLink.disabled_at.is_(None),
        )
    ):
        if links and standing is not None and may_assign(standing, link.role):
            continue
        link.disabled_at = now


async def _revoke_invitations(
    session: AsyncSession, invitations: Iterable[Invitation], now: datetime
) -> None:
    """Revokes ``invitations`` as ``revoke`` revokes one: the link answers
    INVITATION_REVOKED, the seat is free, an invited record is NOT_INVITED again."""
    invited: list[int] = []
    for invitation in invitations:
        invitation.status = InvitationStatus.REVOKED
        invitation.revoked_at = now
        if invitation.staff_id is not None:
            invited.append(invitation.staff_id)
    for record in await session.scalars(
        select(Staff).where(
            Staff.id.in_(invited),
            Staff.account_status.in_([AccountStatus.INVITED, AccountStatus.INVITE_EXPIRED]),
        )
    ):
        record.account_status = AccountStatus.NOT_INVITED
        stamps.touch(record, ["account_status"], now)


def _key_ended(key_id: ColumnElement | InstrumentedAttribute, now: datetime) -> ColumnElement[bool]:
    """Whether the API key ``key_id`` names acts no more: revoked, run out, or gone."""
    return ~exists(
        select(AuthToken.id).where(
            AuthToken.id == key_id, AuthToken.revoked_at.is_(None), AuthToken.expires_at > now
        )
    )


async def key_ended(session: AsyncSession, key_id: int | None) -> bool:
    """Whether a way in made (or last issued) through the API key ``key_id`` (None: by a
    member's session) is withdrawn already in all but its row: the key ended, and the
    sweep (``withdraw_ways_in_of_keys``) has not come by yet. Using it is refused as if
    it had; a key revoked through ``apiTokenRevoke`` withdraws its ways in at once. The
    use's own UPDATE asks it again (``key_lives``): a key may end meanwhile."""
    if key_id is None:
        return False
    return bool(await session.scalar(select(_key_ended(literal(key_id), utcnow()))))


def key_lives(key_id: ColumnElement | InstrumentedAttribute, now: datetime) -> ColumnElement[bool]:
    """``key_ended``'s opposite as a condition of the UPDATE that uses a way in: made by a
    member's session, or through a key that still acts."""
    return or_(key_id.is_(None), ~_key_ended(key_id, now))


async def withdraw_ways_in_of_keys(
    session: AsyncSession, account_id: int, key_ids: Iterable[int] | None = None
) -> int:
    """What an API key opened the account to lasts only as long as the key, as what a
    member opened it to lasts only while they stay (``withdraw_ways_in``): the account's
    invitations not yet accepted that were sent (or last resent) through a key that was
    revoked, ran out or was deleted, and its join links made (or last rotated) through
    one, are withdrawn as the member's would be. Otherwise a leaked key, once revoked,
    would have left its holder a way in: a join link of their making, an invitation to
    their own address. ``key_ids``: only those made through these keys. Under the
    account's lock (seats are freed); how many were withdrawn."""
    now = utcnow()
    await lock_account(session, account_id)
    invitations = select(Invitation).where(
        Invitation.account_id == account_id,
        text(OPEN_BY_KEY),  # as the partial index is written, so that it serves
        _key_ended(Invitation.created_by_token_id, now),
    )
    links = select(JoinLink).where(
        JoinLink.account_id == account_id,
        text(ENABLED_BY_KEY),
        _key_ended(JoinLink.created_by_token_id, now),
    )
    if key_ids is not None:
        invitations = invitations.where(Invitation.created_by_token_id.in_(list(key_ids)))
        links = links.where(JoinLink.created_by_token_id.in_(list(key_ids)))
    found = list(
        await session.scalars(
            invitations.order_by(Invitation.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    await _revoke_invitations(session, found, now)
    disabled = list(
        await session.scalars(
            links.order_by(JoinLink.id).with_for_update().execution_options(populate_existing=True)
        )
    )
    for link in disabled:
        link.disabled_at = now
    return len(found) + len(disabled)


async def keys_ended_due(session: AsyncSession) -> list[int]:
    """The accounts holding invitations or join links that ``withdraw_ways_in_of_keys``
    would withdraw (read by the partial indexes: only those made through keys)."""
    now = utcnow()
    found = union(
        select(Invitation.account_id).where(
            text(OPEN_BY_KEY), _key_ended(Invitation.created_by_token_id, now)
        ),
        select(JoinLink.account_id).where(
            text(ENABLED_BY_KEY), _key_ended(JoinLink.created_by_token_id, now)
        ),
    )
    return sorted(await session.scalars(select(found.subquery().c[0])))


async def revoke_api_key(session: AsyncSession, actor: Actor, key_id: int) -> AuthToken:
    """``apiTokenRevoke``: the key ends (``revoke_api_token``), and with it what it opened
    the account to (``withdraw_ways_in_of_keys``). The account's lock first, as disabling
    a member takes it before ending their keys: the other order deadlocks with it."""
    await lock_account(session, actor.account_id)
    key = await revoke_api_token(session, actor, key_id)
    if key.account_id is not None:
        await withdraw_ways_in_of_keys(session, key.account_id, [key.id])
    return key


async def disable(session: AsyncSession, actor: Actor, staff_id: int) -> Staff:
    """The person can no longer use this account; data is kept; the seat is freed. Every
    token that could act here ends, so enabling the member later revives none of them."""
    require(actor, Permit.MANAGE_STAFF)
    staff = await _managed(session, actor, staff_id)
    if staff.account_status == AccountStatus.DISABLED:
        raise DomainError("Already disabled.", field=["staff_id"], code=ErrorCode.INVALID_STATE)
    await revoke_open_invitations(session, staff)
    await withdraw_ways_in(session, staff, None)
    await end_member_tokens(session, staff)
    staff.account_status = AccountStatus.DISABLED
    stamps.touch(staff, ["account_status"], utcnow())
    await session.flush()
    return staff


async def enable(session: AsyncSession, actor: Actor, staff_id: int) -> Staff:
    """A login comes back ACTIVE, or UNCONFIRMED while the email of a login whose password
    was chosen before it was confirmed is not (either needs a free seat); a record
    without one, NOT_INVITED."""
    require(actor, Permit.MANAGE_STAFF)
    staff = await _managed(session, actor, staff_id)
    if staff.account_status != AccountStatus.DISABLED:
        raise DomainError(
            "This member is not disabled.", field=["staff_id"], code=ErrorCode.INVALID_STATE
        )
    if staff.user_id is not None:
        if refusal := await _refusal_to_give_back(session, actor, staff):
            raise Forbidden(refusal, field=["staff_id"])
        await reserve_seats(session, actor.account_id, role=staff.role)
        user = await session.get_one(User, staff.user_id)
        # a login without a password was made by registration, at the address an
        # administrator vouched for: ACTIVE, as registration made it (UNCONFIRMED would
        # lapse once its welcome link ran out)
        confirmed = user.email_verified_at is not None or user.password_hash is None
        staff.account_status = AccountStatus.ACTIVE if confirmed else AccountStatus.UNCONFIRMED
    else:
        staff.account_status = AccountStatus.NOT_INVITED
    stamps.touch(staff, ["account_status"], utcnow())
    await session.flush()
    return staff


async def _refusal_to_give_back(session: AsyncSession, actor: Actor, staff: Staff) -> str | None:
    """Enabling a login hands its role and grants out again: nobody gives back what they
    could not give (``refusal_to_hand_out``, ``refusal_to_grant``), so a key that holds less
    than a disabled administrator (an owner's key with the ``scim`` scope alone, say) does
    not bring one back."""
    if refusal := actor.refusal_to_hand_out(staff.role):
        return refusal
    granted = (await granted_permits(session, [staff.id])).get(staff.id, set())
    for permit in sorted(granted):
        if refusal := actor.refusal_to_grant(permit):
            return refusal
    return None


async def delete(session: AsyncSession, actor: Actor, staff_id: int) -> Staff:
    """For records made in error: record and membership go, manager links are cleared,
    pending invitations revoked. The audit entry keeps what was there."""
    require(actor, Permit.MANAGE_STAFF)
    refuse_impersonation(actor)
    staff = await _managed(session, actor, staff_id)
    await revoke_open_invitations(session, staff)
    await withdraw_ways_in(session, staff, None)
    await end_member_tokens(session, staff)  # a later invitation must not revive them either
    await remember_end(session, staff)
    reports = await session.scalars(
        update(Staff)
        .where(Staff.account_id == actor.account_id, Staff.manager_id == staff.id)
        .values(manager_id=None, **stamps.moved(["manager_id"], utcnow()))
        .returning(Staff.id)
        .execution_options(synchronize_session=False)
    )
    # what the flush listener does not see: the log, webhooks and subscribers are told
    for report_id in sorted(reports.all()):
        moved = {"manager_id": (staff.id, None)}
        changes.note(session, "staff", report_id, staff.account_id, moved)
    await session.execute(
        update(Invitation)
        .where(Invitation.staff_id == staff.id)
        .values(staff_id=None)
        .execution_options(synchronize_session=False)
    )
    # the projects it made forget their maker before the record goes, rather than in the
    # database's SET NULL while the record's row is held: a change of one of those
    # projects holds the project, then waits to hold the record (app.projects.service)
    await session.execute(
        update(Project)
        .where(Project.account_id == actor.account_id, Project.created_by_staff_id == staff.id)
        .values(created_by_staff_id=None)
        .execution_options(synchronize_session=False)
    )
    await session.delete(staff)
    await session.flush()
    return staff


async def change_role(session: AsyncSession, actor: Actor, staff_id: int, role: Role) -> Staff:
    """Only downwards of one's own role; nobody touches the owner's role (transfer instead)."""
    require(actor, Permit.MANAGE_STAFF)
    refuse_impersonation(actor)
    staff = await _managed(session, actor, staff_id)
    if role == Role.OWNER:
        raise Forbidden("Transfer ownership to make someone the owner.", field=["role"])
    if refusal := actor.refusal_to_hand_out(role):
        raise Forbidden(refusal, field=["role"])
    if staff.role != role:
        if await _holds_seat(session, staff):
            # e.g. a guest (who may take no seat) made a viewer (who does): active,
            # unconfirmed, or invited (a pending invitation holds its seat)
            await _reseat(session, staff, role)
        before = staff.role
        staff.role = role
        stamps.touch(staff, ["role"], utcnow())
        # not yet accepted: a resend of an expired one offers the new role too
        offered = (
            await session.execute(
                select(Invitation.id, Invitation.role).where(
                    Invitation.staff_id == staff.id,
                    Invitation.status.in_([InvitationStatus.PENDING, InvitationStatus.EXPIRED]),
                    Invitation.role != role,
                )
            )
        ).all()
        if offered:
            await session.execute(
                update(Invitation)
                .where(Invitation.id.in_([i for i, _ in offered]))
                .values(role=role)
                .execution_options(synchronize_session=False)
            )
        changes.note(session, "staff", staff.id, staff.account_id, {"role": (before, role)})
        for invitation_id, offered_role in offered:
            offers = {"role": (offered_role, role)}
            changes.note(session, "invitations", invitation_id, staff.account_id, offers)
        await withdraw_ways_in(session, staff, role)
        await drop_redundant(session, staff)
    await session.flush()
    return staff


async def drop_redundant(session: AsyncSession, staff: Staff) -> None:
    """Drop the permit grants and shares that the record's role (just set) gives anyway.

    Such a grant or share gives nothing while the role lasts, and would come back into
    force under a lower one. A member promoted and later demoted would keep what was
    given on top of their old role, and nothing they were given only as the higher role.
    Every way a record's role is set calls this: a role change, an ownership transfer,
    an invitation, a join. Grants and shares are never made redundant to begin with
    (``staff.service.redundant_grant``, ``redundant_share``)."""
    held = ROLE_PERMITS[staff.role]
    rows: list = list(
        await session.scalars(
            select(StaffPermitGrant).where(
                StaffPermitGrant.staff_id == staff.id, StaffPermitGrant.permit.in_(held)
            )
        )
    )
    if Permit.VIEW_RESTRICTED_STAFF in held:
        shares = select(StaffShare).where(StaffShare.shared_with_id == staff.id)
        rows += await session.scalars(shares)
    await remove_all(session, rows)


async def _holds_seat(session: AsyncSession, staff: Staff) -> bool:
    """Whether the record is counted in the seat ledger (by its role): a member, active
    or unconfirmed, or a record with a pending invitation not yet expired. (An expired
    invitation holds none: resending it checks the seat for the role it then has.)"""
    if staff.account_status in (AccountStatus.ACTIVE, AccountStatus.UNCONFIRMED):
        return True
    pending = await session.scalar(
        select(Invitation.id)
        .where(
            Invitation.staff_id == staff.id,
            Invitation.status == InvitationStatus.PENDING,
            Invitation.expires_at > utcnow(),
        )
        .limit(1)
    )
    return pending is not None


async def _reseat(session: AsyncSession, staff: Staff, role: Role) -> None:
    """A member's new role takes a seat where the old one took none: check one is free."""
    account = await lock_account(session, staff.account_id)
    if takes_seat(account, role) and not takes_seat(account, staff.role):
        await reserve_seats(session, staff.account_id, role=role)


async def reserve_join_seat(
    session: AsyncSession, account_id: int, email: str, role: Role
) -> None:
    """Check, under the account lock, that the login at ``email`` may join as a member of
    ``role`` other than by accepting an invitation (a join link, an approved join request,
    a sign-up into the account): a free seat, unless the record it joins already has one.

    The record ``activate`` will take (the account's record at that address, without a
    login, not disabled) may have a pending invitation whose role takes a seat: that
    reserved seat is the joiner's, as joining revokes the invitation
    (``revoke_open_invitations``) and the ledger then counts the seat once, for the
    member.

    Race-free as the other seat checks: the account lock is held to commit, and every
    change that takes a seat takes it first. What may change the invitation meanwhile
    without it only frees its seat (a revoke, its expiry, the record readdressed) or
    gives it to the one member it was for (accepting it: only one of the two joins), so
    the ledger never counts more than the check allowed. (No row lock on the invitation
    here: a revoke holds it while its audit entry waits for the account row, so holding
    the account while waiting for it would deadlock.)"""
    account = await lock_account(session, account_id)
    record = await _joining_record(session, account_id, email)
    role = joining_role(record.role if record else None, role)  # the owner's stays the owner's
    if not takes_seat(account, role):
        return
    held: Iterable[Role] = (
        []
        if record is None
        else await session.scalars(
            select(Invitation.role).where(
                Invitation.staff_id == record.id,
                Invitation.account_id == account_id,
                Invitation.status == InvitationStatus.PENDING,
                Invitation.expires_at > utcnow(),
            )
        )
    )
    if not any(takes_seat(account, held_role) for held_role in held):
        await reserve_seats(session, account_id, role=role)


async def _joining_record(session: AsyncSession, account_id: int, email: str):
    """The id and role of the record a join at ``email`` becomes (``activate``: the
    account's record at that address without a login, not disabled; emails are unique in
    an account), or None."""
    return (
        await session.execute(
            select(Staff.id, Staff.role).where(
                Staff.account_id == account_id,
                Staff.email == email,
                Staff.user_id.is_(None),
                Staff.account_status != AccountStatus.DISABLED,
            )
        )
    ).first()


async def joining_role_at(
    session: AsyncSession, account_id: int, email: str, offered: Role
) -> Role:
    """The role a join at ``email`` offered ``offered`` gives (``joining_role``): the
    owner's record stays the owner's. What a join request says it asks for."""
    record = await _joining_record(session, account_id, email)
    return joining_role(record.role if record else None, offered)


async def member_of(session: AsyncSession, account_id: int, user_id: int) -> Staff | None:
    return await session.scalar(
        select(Staff).where(Staff.account_id == account_id, Staff.user_id == user_id)
    )


class AddressHeld(Exception):
    """``activate`` found a record at the joiner's address, which they have not shown to be
    theirs (``proven=False``): nothing was bound (``app.invitations.join_links._unproven``
    says why)."""


async def activate(
    session: AsyncSession,
    *,
    account_id: int,
    user: User,
    role: Role,
    first_name: str | None,
    last_name: str | None,
    staff: Staff | None = None,
    kind: StaffKind | None = None,
    confirmed: bool = True,
    proven: bool = True,
) -> Staff:
    """Link ``user`` to ``staff`` (or a new record of ``kind``) as an ACTIVE member with
    ``role``, or, not ``confirmed``, an UNCONFIRMED one (a seat reserved until
    ``confirm_memberships``). The caller has checked the seat. Every way of joining
    comes through here, so an existing record's invitations not yet accepted are
    revoked here (``revoke_open_invitations``), in the same transaction, and the role
    is ``joining_role``'s: the owner's record (a restored owner's, without a login)
    stays the owner's whatever ``role`` the way in offers (a join link's, a sign-up's
    GUEST), and no other record is made the owner."""
    existing = await member_of(session, account_id, user.id)
    if existing is not None and (staff is None or existing.id != staff.id):
        raise AlreadyMember()
    if staff is not None and staff.user_id not in (None, user.id):
        # The record (an invitation's) is another user's membership now, e.g. its email
        # was corrected and the right person joined: an old link never takes it over.
        # The answer of a withdrawn invitation, which says nothing of whose record it is.
        raise InvitationRevoked()
    first = first_name or user.first_name or ""  # never a name made up from the email
    last = last_name or user.last_name or ""
    if staff is None:
        staff = await session.scalar(
            select(Staff).where(Staff.account_id == account_id, Staff.email == user.email)
        )
        if staff is not None and not proven:
            # looked up again here, under way to binding it: a record made or readdressed
            # since the joiner's first look is not taken either
            raise AddressHeld()
        if staff is not None and (
            staff.user_id not in (None, user.id)
            # disabled by an administrator: only enabling it brings it back
            or staff.account_status == AccountStatus.DISABLED
        ):
            raise AlreadyMember()
    if staff is None:
        staff = Staff(
            account_id=account_id,
            sid=await next_staff_sid(session, account_id),
            first_name=first,
            last_name=last,
            last_name_key=sort_key(last),
            email=user.email,
            kind=kind or StaffKind.EMPLOYEE,
            start_date=date.today(),
            created_at=utcnow(),
        )
    else:
        # The record is a membership now: an invitation of it not yet accepted (the one
        # being accepted is already ACCEPTED) no longer holds a seat or joins as it.
        await revoke_open_invitations(session, staff)
        if first_name or last_name or not (staff.first_name or staff.last_name):
            # Names given now, or a nameless record taking the login's names.
            staff.first_name = first
            staff.last_name = last
            staff.last_name_key = sort_key(last)
    role = joining_role(staff.role, role)  # a new record's role is None until set here
    if staff.user_id is None:  # the user's membership begins: an earlier one's cut holds
        ended = await session.get(EndedMembership, (account_id, user.id))
        if ended is not None and (
            staff.tokens_valid_from is None or staff.tokens_valid_from < ended.ended_at
        ):
            staff.tokens_valid_from = ended.ended_at
    # Joins are counted under the account lock, record writes of other kinds (an added
    # record, a changed email) are not: one of those may have taken the email since the
    # look above, as a concurrent join may have made this user a member.
    had_record = staff.id is not None  # which may hold grants and shares its new role gives
    async with claim(session, JOIN_KEYS_TAKEN):
        session.add(staff)
        staff.user_id = user.id
        staff.role = role
        staff.account_status = AccountStatus.ACTIVE if confirmed else AccountStatus.UNCONFIRMED
        # the login, role, state and names: the profile's (hasLogin, role, accountStatus)
        stamps.touch(staff, ["account_status", "role", "first_name", "last_name"], utcnow())
    if had_record:
        await drop_redundant(session, staff)
    return staff


JOIN_KEYS_TAKEN = {
    "uq_staff_account_id_user_id": AlreadyMember,
    "uq_staff_account_id_email": StaffEmailTaken,
}


async def confirm_memberships(session: AsyncSession, user_id: int) -> list[Staff]:
    """The user's email is confirmed: each UNCONFIRMED membership becomes ACTIVE. Its seat
    was reserved, so no seat check; each account's lock is still taken (in account order),
    like every change of the seat ledger. The accounts they signed up for take their
    slugs (``take_pending_slugs``)."""
    await take_pending_slugs(session, user_id)
    waiting = list(
        await session.scalars(
            select(Staff.account_id)
            .where(Staff.user_id == user_id, Staff.account_status == AccountStatus.UNCONFIRMED)
            .order_by(Staff.account_id)
        )
    )
    confirmed: list[Staff] = []
    now = utcnow()
    for account_id in waiting:
        await lock_account(session, account_id)
        staff = await session.scalar(
            select(Staff)
            .where(Staff.account_id == account_id, Staff.user_id == user_id)
            .execution_options(populate_existing=True)
        )
        if staff is not None and staff.account_status == AccountStatus.UNCONFIRMED:
            staff.account_status = AccountStatus.ACTIVE
            stamps.touch(staff, ["account_status"], now)
            confirmed.append(staff)
    await session.flush()
    return confirmed


# The links whose use confirms a login's email, and with it its waiting memberships
# (``confirm_memberships``): verification, a password reset, a welcome's set-password.
CONFIRMING = (
    UserTokenPurpose.EMAIL_VERIFICATION,
    UserTokenPurpose.PASSWORD_RESET,
    UserTokenPurpose.SET_PASSWORD,
)


# Written into the statement as the partial index ``ix_staff_unconfirmed`` states it: a
# parameter would keep the planners (PostgreSQL's generic plans, SQLite's) from the index.
UNCONFIRMED = Staff.account_status == literal_column(f"'{AccountStatus.UNCONFIRMED.value}'")


def _due(now, waited: timedelta):
    """The conditions of an UNCONFIRMED record whose wait is over (``lapse_unconfirmed``):
    unchanged for ``waited`` and its login holding no live confirming link, or unchanged
    as long as its account's invitations last (never less than ``waited``). For a
    statement that joins the record's Account."""
    live_link = (
        select(UserToken.id)
        .where(
            UserToken.user_id == Staff.user_id,
            UserToken.purpose.in_(CONFIRMING),
            UserToken.used_at.is_(None),
            UserToken.expires_at > now,
        )
        .exists()
    )
    def before(days: int):
        return literal(now - max(timedelta(days=days), waited), UTCDateTime)

    longest = case(
        {d: before(d) for d in range(1, MAX_EXPIRY_DAYS + 1)},
        value=Account.invitation_expiry_days,
        else_=before(MAX_EXPIRY_DAYS),
    )
    return (
        UNCONFIRMED,
        or_(
            Staff.modified_at <= longest,
            and_(Staff.modified_at <= now - waited, ~live_link),
        ),
    )


async def unconfirmed_due(
    session: AsyncSession, waited: timedelta, *, limit: int = 1000
) -> dict[int, list[int]]:
    """The UNCONFIRMED memberships whose wait is over, by account (see
    ``lapse_unconfirmed``), the longest waiting first, at most ``limit``."""
    now = utcnow()
    found = (
        await session.execute(
            select(Staff.account_id, Staff.id)
            .join(Account, Account.id == Staff.account_id)
            .where(*_due(now, waited))
            .order_by(Staff.modified_at, Staff.id)
            .limit(limit)
        )
    ).all()
    due: dict[int, list[int]] = {}
    for account_id, staff_id in found:
        due.setdefault(account_id, []).append(staff_id)
    return due


async def lapse_unconfirmed(
    session: AsyncSession, account_id: int, staff_ids: list[int], waited: timedelta
) -> int:
    """Memberships of one account that waited too long for their login to confirm its
    email lapse, as invitations do: an UNCONFIRMED record unchanged for ``waited`` (the
    life of a confirmation link) whose login holds no live link that would confirm it
    (verification, reset, set-password: asking for a new one keeps the membership waiting
    while it lives), and any unchanged as long as its account's invitations last (anyone
    may ask for links for any address: they keep no one waiting longer). How many of
    ``staff_ids`` (``unconfirmed_due``) lapsed.

    An unconfirmed membership reserves a seat and holds its address: anyone holding a join
    link, or signing up to an account open to it, could otherwise keep seats taken and an
    address away from its owner's invitation for good, and a later password reset of that
    address would confirm a membership its owner never asked for. A lapsed record stays,
    NOT_INVITED and without the login (its address can be invited; its seat is free); the
    login's tokens end here as a deleted member's do. Like an invitation's expiry, a
    lapse is an event (a webhook, a subscription's change) and no audit entry: nobody made it.

    The account's lock is taken and the records read again under it, locked, with what
    makes them due: a confirmation, an edit or a new link meanwhile keeps them. One account
    per transaction (the caller commits each): a request that locks accounts in another
    order (accepting an invitation confirms the login's other memberships first) never
    waits for a sweep that holds two."""
    now = utcnow()
    await lock_account(session, account_id)
    records = await session.scalars(
        select(Staff)
        .join(Account, Account.id == Staff.account_id)
        .where(Staff.id.in_(staff_ids), Staff.account_id == account_id, *_due(now, waited))
        .with_for_update(of=Staff)
        .execution_options(populate_existing=True)
    )
    lapsed = 0
    for staff in records:
        await release_login(session, staff)
        lapsed += 1
    await session.flush()
    return lapsed


# A permit a concurrent request granted between the look and the insert is granted all the
# same: the row is there, as the look would have found it (``claim``).
GRANT_THERE = {"pk_staff_permit_grants": ALREADY_THERE}


async def set_permit(
    session: AsyncSession, actor: Actor, staff_id: int, permit: Permit, *, grant: bool
) -> Staff:
    """Grant or revoke ``permit``, with the account's members locked (``lock_members``), as
    every change of what a member may do: an administrator demoted meanwhile grants
    nothing with the role they had."""
    require(actor, Permit.MANAGE_STAFF)
    await lock_members(session, actor)
    staff = await get_staff(session, actor, staff_id, field="staff_id")
    if (problem := grant_problem(permit)) is not None:
        raise problem
    if grant and (refusal := actor.refusal_to_grant(permit)):
        raise Forbidden(refusal, field=["permit"])
    if grant and (problem := redundant_grant(actor, staff, permit)) is not None:
        raise problem
    existing = await session.get(StaffPermitGrant, (staff.id, permit))
    if grant and existing is None:
        async with claim(session, GRANT_THERE):  # granted by a concurrent request: done too
            session.add(
                StaffPermitGrant(staff_id=staff.id, permit=permit, account_id=actor.account_id)
            )
    elif not grant and existing is not None:
        await remove(session, existing)  # or revoked by a concurrent request: done too
    await session.flush()
    return staff
