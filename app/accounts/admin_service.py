"""What the owner and administrators change about the account itself."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, Permit, Role, may_assign, require, require_owner, roles_holding
from app.accounts.models import Account
from app.accounts.plans import MAX_CUSTOM_SEATS, PLAN_SEATS, Plan
from app.accounts.service import seats
from app.db.base import utcnow
from app.errors import DomainError, ErrorCode, Forbidden, NotFound, ValidationFailed
from app.identity.credentials import PasswordGate
from app.identity.errors import InvalidCredentials
from app.identity.models import User
from app.invitations.models import MAX_EXPIRY_DAYS, Invitation
from app.staff import stamps
from app.staff.membership import OPEN_INVITATIONS, drop_redundant, lock_members, withdraw_ways_in
from app.staff.models import AccountStatus, Staff
from app.validation import clean_text, clean_time_zone


def clean_settings(changes: dict, by: Role) -> tuple[dict, list[DomainError]]:
    """The account settings in ``changes`` as they are stored, and what is wrong with
    the others, for a member of role ``by``: the rules accountUpdate and the backup's
    restore hold an account to (a setting left out, or null where it cannot be cleared,
    is no change)."""
    values: dict = {}
    errors: list[DomainError] = []
    if "name" in changes:
        try:
            values["name"] = clean_text(
                changes["name"], "name", max_length=200, required=True, label="Account name"
            )
        except DomainError as exc:
            errors.append(exc)
    for flag in ("scim_invites", "everyone_can_invite"):
        if changes.get(flag) is not None:
            values[flag] = bool(changes[flag])
    if changes.get("invitation_expiry_days") is not None:
        days = changes["invitation_expiry_days"]
        if not 1 <= days <= MAX_EXPIRY_DAYS:
            errors.append(
                DomainError(
                    f"Invitations last 1 to {MAX_EXPIRY_DAYS} days.",
                    field=["invitation_expiry_days"],
                )
            )
        else:
            values["invitation_expiry_days"] = days
    if changes.get("join_link_role") is not None:
        try:
            role = Role(changes["join_link_role"])
        except ValueError:
            errors.append(
                DomainError(
                    f"{changes['join_link_role']!r} is not a role.", field=["join_link_role"]
                )
            )
        else:
            if not may_assign(by, role):  # OWNER never
                errors.append(
                    DomainError(
                        "Join links cannot hand out this role.",
                        field=["join_link_role"],
                        code=ErrorCode.FORBIDDEN,
                    )
                )
            else:
                values["join_link_role"] = role.value
    if "join_link_expiry_days" in changes:
        days = changes["join_link_expiry_days"]
        if days is not None and not 1 <= days <= 365:
            errors.append(
                DomainError("Join links last 1 to 365 days.", field=["join_link_expiry_days"])
            )
        else:
            values["join_link_expiry_days"] = days
    if changes.get("join_link_requires_approval") is not None:
        values["join_link_requires_approval"] = bool(changes["join_link_requires_approval"])
    if "timezone" in changes:
        # Every account has one (UTC unless set): blank or null is refused, not cleared.
        try:
            tz = clean_time_zone(changes["timezone"], "timezone", label="Time zone")
            if tz is None:
                raise DomainError(
                    "Time zone is required.", field=["timezone"], code=ErrorCode.REQUIRED
                )
            values["timezone"] = tz
        except DomainError as exc:
            errors.append(exc)
    if changes.get("self_signup") is not None:
        values["self_signup"] = bool(changes["self_signup"])
    return values, errors


async def update_account(session: AsyncSession, actor: Actor, changes: dict) -> Account:
    require(actor, Permit.MANAGE_ACCOUNT)
    # the account first, as every change of members and invitations locks it first
    # (``withdraw_ways_in`` below locks invitations), and the actor's role re-read under
    # it: who lets every member invite must still hold what that hands out
    account = await lock_members(session, actor)
    values, errors = clean_settings(changes, actor.role)
    stops_inviting = account.everyone_can_invite and values.get("everyone_can_invite") is False
    for setting in ("everyone_can_invite", "scim_invites"):
        # each lets others invite (every member; every SCIM key's new people): nobody
        # hands out what they may not do themselves
        if values.get(setting) and not getattr(account, setting):
            if refusal := actor.refusal_to_grant(Permit.INVITE_USERS):
                errors.append(Forbidden(refusal, field=[setting]))
                del values[setting]
    for key, value in values.items():
        setattr(account, key, value)
    if stops_inviting and not errors:
        await _withdraw_members_invitations(session, account)
    if changes.get("guests_take_seats") is not None:
        try:
            await _guest_seats(session, actor, account, bool(changes["guests_take_seats"]))
        except DomainError as exc:
            errors.append(exc)
    if errors:
        raise ValidationFailed(errors)
    await session.flush()
    return account


async def _withdraw_members_invitations(session: AsyncSession, account: Account) -> None:
    """everyoneCanInvite turned off: the invitations members sent under it, whose role
    no longer lets them invite, are withdrawn as their standing would withdraw them
    (``membership.withdraw_ways_in``, with the setting already off)."""
    inviters = await session.scalars(
        select(Staff)
        .where(
            Staff.account_id == account.id,
            Staff.role.not_in(roles_holding(Permit.INVITE_USERS)),
            Staff.id.in_(
                select(Invitation.inviter_staff_id).where(
                    Invitation.account_id == account.id,
                    Invitation.status.in_(OPEN_INVITATIONS),
                )
            ),
        )
        .order_by(Staff.id)
    )
    for inviter in list(inviters):
        await withdraw_ways_in(session, inviter, inviter.role)


async def _guest_seats(session: AsyncSession, actor: Actor, account: Account, take: bool) -> None:
    """Whether guests take seats is the owner's (it is about seats, like the plan); making
    them take seats is refused when the guests would not fit."""
    if take == account.guests_take_seats:
        return
    if not actor.can(Permit.MANAGE_BILLING):
        raise DomainError(
            "Only the owner decides whether guests take seats.",
            field=["guests_take_seats"],
            code=ErrorCode.FORBIDDEN,
        )
    # the caller holds the account's lock (``update_account``); locking it again here
    # would reload the row and drop the settings set beside this one, not yet flushed
    ledger = await seats(session, account)
    if take:
        in_use = ledger.used + ledger.reserved + ledger.guests + ledger.guests_reserved
        if in_use > ledger.limit:
            raise DomainError(
                f"Guests would need {in_use - ledger.limit} more seat(s) than the plan has "
                f"({ledger.guests} guests, {ledger.guests_reserved} invited or unconfirmed).",
                field=["guests_take_seats"],
                code=ErrorCode.PLAN_TOO_SMALL,
            )
    account.guests_take_seats = take


async def change_plan(
    session: AsyncSession, actor: Actor, plan: Plan, seat_limit: int | None
) -> Account:
    """A downgrade below current use is refused, saying how many seats must be freed."""
    require(actor, Permit.MANAGE_BILLING)
    if plan == Plan.CUSTOM:
        if seat_limit is None or not 1 <= seat_limit <= MAX_CUSTOM_SEATS:
            raise DomainError(
                f"A custom plan needs 1 to {MAX_CUSTOM_SEATS} seats.", field=["seat_limit"]
            )
        limit = seat_limit
    else:
        if seat_limit is not None:
            raise DomainError("Only a CUSTOM plan takes a seat limit.", field=["seat_limit"])
        fixed = PLAN_SEATS[plan]
        assert fixed is not None  # only CUSTOM has no fixed limit
        limit = fixed
    # the actor's role re-read under the lock: an owner who handed the account over
    # meanwhile changes the plan no more
    account = await lock_members(session, actor)
    ledger = await seats(session, account)
    in_use = ledger.taken
    if limit < in_use:
        raise DomainError(
            f"{plan.value} allows {limit} seats but {in_use} are in use "
            f"({ledger.used} members, {ledger.reserved} reserved): free "
            f"{in_use - limit} seat(s) first.",
            field=["plan"],
            code=ErrorCode.PLAN_TOO_SMALL,
        )
    account.plan = plan.value
    account.seat_limit = limit
    await session.flush()
    return account


def ownership_problem(account_status: AccountStatus) -> DomainError | None:
    """What keeps a record in ``account_status`` from being the account's owner, if
    anything: the owner is an active member. The owner's record is made one
    (``create_account``), ownership goes only to one (``transfer_ownership``), and nothing
    changes the owner's state (disabling, enabling, deleting, inviting and role changes
    are for members below one's own role). The rule ownership transfers and the backup's
    restore hold the owner to."""
    if account_status != AccountStatus.ACTIVE:
        return DomainError(
            f"The owner is an active member, not {AccountStatus(account_status).value}.",
            field=["account_status"],
            code=ErrorCode.INVALID_STATE,
        )
    return None


async def transfer_ownership(
    session: AsyncSession,
    gate: PasswordGate,
    actor: Actor,
    staff_id: int,
    password: str,
) -> tuple[Staff, Staff]:
    """To an active administrator, confirmed with the owner's password. The old owner
    becomes an administrator; the account always has exactly one owner."""
    require_owner(actor)
    user = await session.get(User, actor.user_id)
    if not await gate.check(session, user, password):  # counted against the login limits
        raise InvalidCredentials()
    from app.staff.membership import lock_members

    await lock_members(session, actor)  # before reading the target: it may be changing
    target = await session.scalar(
        select(Staff)
        .where(Staff.id == staff_id, Staff.account_id == actor.account_id)
        .execution_options(populate_existing=True)
    )
    if target is None:
        raise NotFound("Staff member", field=["staff_id"])
    if (
        target.id == actor.staff_id
        or target.role != Role.ADMINISTRATOR
        or ownership_problem(target.account_status) is not None
        or target.user_id is None
    ):
        raise DomainError(
            "Ownership goes to an active administrator.",
            field=["staff_id"],
            code=ErrorCode.INVALID_STATE,
        )
    owner = await session.get_one(Staff, actor.staff_id)
    now = utcnow()
    owner.role = Role.ADMINISTRATOR
    stamps.touch(owner, ["role"], now)
    await session.flush()  # the one-owner index: demote before promoting
    target.role = Role.OWNER
    stamps.touch(target, ["role"], now)
    await drop_redundant(session, target)
    await session.flush()
    return owner, target
