"""Invitations: create (one or a batch), resend, revoke, accept, preview, list, expire."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import (
    Actor,
    Permit,
    Role,
    joining_role,
    may_offer,
    refusal_to_hand_out,
    refuse_impersonation,
    require,
)
from app.access.roles import invites
from app.accounts.models import Account
from app.accounts.service import lock_account, next_staff_sid, reserve_seats, takes_seat
from app.audit import changes
from app.db.base import utcnow
from app.db.prepared import connection_of
from app.db.unique import claim
from app.email.links import build_link, check_redirect
from app.email.outbox import count_unasked, enqueue
from app.errors import (
    DomainError,
    ErrorCode,
    Forbidden,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from app.identity import user_tokens
from app.identity.credentials import PasswordGate, TokenGate
from app.identity.errors import WeakPassword
from app.identity.models import TokenKind, User, UserTokenPurpose
from app.identity.service import Principal, create_user, get_user_by_email, issue_token
from app.invitations.errors import (
    AlreadyInvited,
    AlreadyMember,
    InvalidToken,
    InvitationRevoked,
    LoginRequired,
    NotInvitable,
    OwnersRecord,
    TokenExpired,
    TokenUsed,
)
from app.invitations.models import MAX_EXPIRY_DAYS, Invitation, InvitationStatus
from app.invitations.queries import (
    INVITATION_RECORDS,
    LATEST_FOR_STAFF,
    effective_status,
    effective_status_is,
    invitation_count,
    invitation_page,
)
from app.security.passwords import PasswordService, password_problem
from app.security.tokens import new_token, token_digest
from app.staff import access, stamps
from app.staff.membership import (
    activate,
    confirm_memberships,
    drop_redundant,
    key_ended,
    key_lives,
    lock_members,
    member_of,
    revoke_open_invitations,
)
from app.staff.models import AccountStatus, Staff, StaffKind, default_role
from app.staff.queries import visible
from app.staff.service import carried
from app.validation import clean_email, clean_text, full_name, normalize_email, sort_key

MAX_BULK = 500
MAX_MESSAGE = 2000


@dataclass(frozen=True)
class InvitationRequest:
    email: str | None
    role: Role | None = None  # none: the kind's default (guest for customers and vendors)
    kind: StaffKind | None = None  # none: the record's own kind (a new one: an employee)
    first_name: str | None = None
    last_name: str | None = None
    message: str | None = None
    subject: str | None = None
    bcc_sender: bool = False
    expires_in_days: int | None = None
    staff_id: int | None = None
    redirect_url: str | None = None
    # Where the email's options (message, subject, expires_in_days, redirect_url) sit in
    # the input, so that their errors point there: the top level (invitationCreate), or a
    # nested input (staffCreate's ``invitation``).
    options_at: tuple[str, ...] = ()


def role_name(role: Role) -> str:
    return {
        "GUEST": "a guest",
        "VIEWER": "a viewer",
        "EDITOR": "an editor",
        "ADMINISTRATOR": "an administrator",
        "OWNER": "the owner",
    }[role.value]


def _provisional_role(request: InvitationRequest) -> Role:
    """The invitation's role as far as the request says, before its record is looked up:
    its final role (``_final_role``) differs only where the record found by email is a
    customer's or vendor's, whose default role (guest) needs no more than this one."""
    return request.role or default_role(request.kind or StaffKind.EMPLOYEE)


def _final_role(request: InvitationRequest, staff: Staff | None) -> tuple[Role, StaffKind]:
    kind = request.kind or (staff.kind if staff is not None else StaffKind.EMPLOYEE)
    return request.role or default_role(kind), kind


def _invited_role(
    actor: Actor, request: InvitationRequest, staff: Staff | None, email: str
) -> tuple[Role, StaffKind]:
    """The role and kind an invitation gives its record (``_final_role``), by the rule of
    every way in (``joining_role``): the owner's record stays the owner's, and nobody else
    is invited as owner (``check_invited_role``).

    The owner's record is invitable while it has no login (a restore writes it
    NOT_INVITED): the invitation is how the owner gets a login back, as every restored
    member does. It is an invitation *as the owner*: it stores, shows (``invitations``,
    ``invitationPreview``, the email) and on acceptance keeps the role OWNER, and the
    account keeps its one owner throughout. Its role is the record's, not the inviter's
    choice: the role left out, or OWNER (the record's own), invites it; any other role is
    refused (``OwnersRecord``, FORBIDDEN on ``role``) and nothing changes. That is what
    an inviter asking for "this record as a viewer" should be told, as ``staffRoleChange``
    tells them for the owner: an invitation of any other record gives the record the role
    it names, so inviting the owner as something else would demote the owner, and
    ignoring the role asked for would say something the invitation does not do.
    Ownership moves only by ``accountOwnershipTransfer``. Administrators (and the owner)
    invite, resend and revoke it (``may_offer``); inviters below them may not, as for
    any role above their own. And it goes to the record's own address: an invitation
    that readdressed it (``staffId`` with another ``email``) would let the inviter choose
    who becomes the owner."""
    role, kind = _final_role(request, staff)
    if staff is not None and staff.role == Role.OWNER:
        if request.role not in (None, Role.OWNER):
            raise OwnersRecord()
        if refusal := actor.refusal_to_offer(Role.OWNER):
            field = "staff_id" if request.staff_id is not None else "email"
            raise Forbidden(refusal, field=[field])
        if staff.email != email and (
            denial := access.email_change_denial(actor, staff.id, staff.role)
        ):
            raise Forbidden(denial, field=["email"])
    elif request.role == Role.OWNER:
        check_invited_role(actor, Role.OWNER)  # refused: nobody is invited as owner
    return joining_role(staff.role if staff is not None else None, role), kind


def check_invited_role(by: Actor | Role, role: Role) -> None:
    """Forbidden unless ``by`` (an actor, or a member of that role) may invite someone as
    ``role``: nobody is invited as owner, nor as a role the inviter may not hand out
    (``refusal_to_hand_out``: above their role, or beyond an API key's scopes). The rule
    invitationCreate (and every way of inviting) and the backup's restore hold
    invitations to."""
    if role == Role.OWNER:
        raise Forbidden("Nobody is invited as owner; transfer ownership instead.", field=["role"])
    if refusal := refusal_to_hand_out(by, role):
        raise Forbidden(refusal, field=["role"])


async def _pending_for_staff(session: AsyncSession, staff_id: int, now) -> Invitation | None:
    return await session.scalar(
        select(Invitation).where(
            Invitation.staff_id == staff_id, effective_status_is(InvitationStatus.PENDING, now)
        )
    )


def administers_invitations(actor: Actor) -> bool:
    """Administrators see and act on every invitation of the account; other inviters
    (``everyoneCanInvite``) only on those they sent."""
    return actor.can(Permit.MANAGE_STAFF)


def can_see_invitation(actor: Actor, invitation: Invitation) -> bool:
    return (
        invitation.account_id == actor.account_id
        and actor.can(Permit.INVITE_USERS)
        and (administers_invitations(actor) or invitation.inviter_staff_id == actor.staff_id)
    )


def shows_personal(actor: Actor, invitation: Invitation) -> bool:
    """The invitee's email and the personal message are personal data, shown as the
    directory shows a record's email: to the person, or with ViewPersonalData."""
    if invitation.staff_id is not None:
        return access.can_see_personal(actor, invitation.staff_id)
    return actor.can(Permit.VIEW_PERSONAL_DATA)


def _takeover_denial(actor: Actor, staff: Staff) -> str | None:
    """Inviting an existing record edits it (its email, role and state), and whoever
    accepts reads it as its own person: it needs the right to edit the record and to
    write its email, whether or not the email changes."""
    if not access.can_edit(actor, staff.id, staff.restricted):
        return "You may not edit this staff member."
    return access.write_denial(actor, staff.id, staff.restricted, "email")


def knows_addresses(actor: Actor) -> bool:
    """Whether inviting may tell ``actor`` what stands in the way of an address (a member,
    an open invitation): only who reads every record's email, in the whole directory."""
    return actor.can(Permit.VIEW_PERSONAL_DATA) and access.sees_directory(actor)


async def _target_staff(
    session: AsyncSession,
    actor: Actor,
    request: InvitationRequest,
    email: str,
    created: Staff | None = None,
) -> Staff | None:
    """The staff record the invitation is for: given, or found by email, or None (new).
    ``created``: the record the inviter has just added in this request (staffCreate's
    ``invite``), which they may invite whether or not they see the directory.

    Inviters without the ViewPersonalData permit, or who do not see the directory (an API
    key without staff:read), get one answer (``NotInvitable``) for every address already in
    the account, whatever the reason, so that inviting cannot tell them whose email is
    whose.
    """
    now = utcnow()
    precise = knows_addresses(actor)
    if request.staff_id is not None:
        staff = (
            created
            if created is not None and created.id == request.staff_id
            else await session.scalar(
                select(Staff).where(Staff.id == request.staff_id, *visible(actor))
            )
        )
        if staff is None:  # another account's, or one the inviter does not see
            raise NotFound("Staff member", field=["staff_id"])
        # Before anything about the record's state or email is answered.
        if (reason := _takeover_denial(actor, staff)) is not None:
            raise Forbidden(reason, field=["staff_id"])
        # (a record with a login is refused below, whatever its address: asked here, a
        # never-used login's record would tell that its member never signed in)
        if staff.user_id is None and staff.email != email and (
            reason := access.handover_denial(
                actor, (await carried(session, [staff])).get(staff.id)
            )
        ):
            # at another address: its grants and shares go to whoever accepts there
            raise Forbidden(reason, field=["email"])
        if staff.email not in (None, email) and await session.scalar(
            select(Staff.id).where(
                Staff.account_id == actor.account_id, Staff.email == email, Staff.id != staff.id
            )
        ):
            # Without the permit (they can only be naming their own record, a member)
            # this is the one answer every address in the account gets.
            if not precise:
                raise NotInvitable("staff_id")
            raise DomainError(
                "Another staff member has this email.", field=["email"], code=ErrorCode.TAKEN
            )
    else:
        staff = await session.scalar(
            select(Staff).where(Staff.account_id == actor.account_id, Staff.email == email)
        )
    if staff is None:
        member = await session.scalar(
            select(Staff.id)
            .join(User, User.id == Staff.user_id)
            .where(Staff.account_id == actor.account_id, User.email == email)
        )
        if member is not None:
            raise AlreadyMember() if precise else NotInvitable()
        return None
    field = "staff_id" if request.staff_id is not None else "email"
    if staff.user_id is not None or staff.account_status in (
        AccountStatus.ACTIVE,
        AccountStatus.DISABLED,
    ):
        raise AlreadyMember(field) if precise else NotInvitable(field)
    if await _pending_for_staff(session, staff.id, now):
        raise AlreadyInvited(field) if precise else NotInvitable(field)
    if request.staff_id is None and (reason := _takeover_denial(actor, staff)) is not None:
        # Found by its email: the inviter may not take this record over.
        raise Forbidden(reason, field=["email"]) if precise else NotInvitable()
    return staff


def _clean_request(actor: Actor, account: Account, request: InvitationRequest, settings):
    errors: list[DomainError] = []
    values: dict[str, Any] = {}
    try:
        values["email"] = clean_email(request.email, required=True)
    except DomainError as exc:
        errors.append(exc)
    options, problems = _clean_options(account, request, settings)
    values.update(options)
    errors += problems
    for key, fn in (
        ("first_name", lambda: clean_text(request.first_name, "first_name", max_length=100)),
        ("last_name", lambda: clean_text(request.last_name, "last_name", max_length=100)),
        # OWNER is the owner's record's own role: checked once the record is known
        # (``_invited_role``)
        (
            "role",
            lambda: None
            if request.role == Role.OWNER
            else check_invited_role(actor, _provisional_role(request)),
        ),
    ):
        try:
            values[key] = fn()
        except DomainError as exc:
            errors.append(exc)
    if errors:
        raise ValidationFailed(errors)
    return values


def _clean_options(
    account: Account, request: InvitationRequest, settings
) -> tuple[dict[str, Any], list[DomainError]]:
    """The email's options, cleaned, and their problems (at ``request.options_at``)."""
    at = request.options_at
    errors: list[DomainError] = []
    values: dict[str, Any] = {}
    for key, fn in (
        (
            "message",
            lambda: clean_text(
                request.message,
                [*at, "message"],
                max_length=MAX_MESSAGE,
                multiline=True,
                label="The message",
            ),
        ),
        (
            "subject",
            lambda: clean_text(request.subject, [*at, "subject"], max_length=200, label="Subject"),
        ),
        (
            "redirect_url",
            lambda: check_redirect(settings, request.redirect_url, [*at, "redirect_url"]),
        ),
    ):
        try:
            values[key] = fn()
        except DomainError as exc:
            errors.append(exc)
    days = (
        account.invitation_expiry_days
        if request.expires_in_days is None
        else request.expires_in_days
    )
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        errors.append(
            DomainError(
                f"An invitation lasts 1 to {MAX_EXPIRY_DAYS} days.",
                field=[*at, "expires_in_days"],
            )
        )
    values["days"] = days
    return values, errors


async def check_options(session: AsyncSession, actor: Actor, settings, request: InvitationRequest):
    """Refuse the email options of an invitation that is not sent (staffCreate's
    ``invitation`` without ``invite``) as they would be refused if it were."""
    account = await session.get_one(Account, actor.account_id)
    errors = _clean_options(account, request, settings)[1]
    if errors:
        raise ValidationFailed(errors)


async def login_address(session: AsyncSession, member: Staff | None) -> str | None:
    """Where a member's own mail goes (a copy of what they sent, a notice to an
    administrator): their login's address, which only they change, by a link sent there.
    Not their record's email, which whoever may edit the record may change."""
    if member is None or member.user_id is None:
        return None
    return await session.scalar(select(User.email).where(User.id == member.user_id))


async def _send(
    session: AsyncSession,
    settings,
    invitation: Invitation,
    token: str,
    *,
    template: str,
    account: Account,
    inviter: Staff | None,
    first_name: str | None,
    copy: bool,
) -> None:
    """The invitation goes to the invitee alone (its link accepts it); ``copy``: the
    sender (``inviter``), who asked for one, gets a separate notice without the link."""
    await count_unasked(session, settings, invitation.email)
    inviter_name = (full_name(inviter.first_name, inviter.last_name) if inviter else "") or (
        f"A member of {account.name}"
    )
    expires = invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    await enqueue(
        session,
        settings.keyring,
        template=template,
        to=invitation.email,
        account_id=invitation.account_id,
        subject=invitation.subject,
        context={
            "inviter": inviter_name,
            "account": account.name,
            "role_name": role_name(invitation.role),
            "message": invitation.message,
            "first_name": first_name,
            "expires": expires,
            "link": build_link(settings, "/invitations/accept", token, invitation.redirect_url),
        },
    )
    copy_to = await login_address(session, inviter) if copy else None
    if copy_to:
        await enqueue(
            session,
            settings.keyring,
            template="invitation_copy",
            to=copy_to,
            account_id=invitation.account_id,
            context={
                "email": invitation.email,
                "account": account.name,
                "role_name": role_name(invitation.role),
                "message": invitation.message,
                "expires": expires,
                "reminder": template == "invitation_resent",
            },
        )


async def count_sent(
    session: AsyncSession,
    limiter,
    actor: Actor,
    count: int = 1,
    *,
    sender: Permit = Permit.INVITE_USERS,
) -> None:
    """Every invitation email sent (created, bulk, resent, or by ADD+INVITE) counts against
    one per-account limit, before the rest of the request is looked at: before the account
    is locked (the lock order is on ``app.accounts.service.lock_account``).

    Only someone who may send them spends it: the permit that sends them (``sender``;
    registration's welcome is sent by MANAGE_STAFF) and the impersonation rule are asked
    first, with the refusal the request itself would give. The limit is
    the whole account's, and a refused request's hits stay counted: a member who may not
    invite (or a key without the permit) would otherwise use up everyone's invitations for
    the day with requests that are refused anyway."""
    require(actor, sender)
    refuse_impersonation(actor)
    await limiter.hit(session, "invitations_account", actor.account_id, count)


async def count_bulk_sent(session: AsyncSession, limiter, actor: Actor, count: int) -> None:
    """``count_sent`` for ``create_many``'s ``count`` rows: none when there are more than it
    takes (it refuses them all, and sends nothing)."""
    await count_sent(session, limiter, actor, 0 if count > MAX_BULK else count)


async def create_invitation(
    session: AsyncSession,
    actor: Actor,
    settings,
    request: InvitationRequest,
    *,
    created: Staff | None = None,
    at_console: bool = False,
) -> Invitation:
    """``created``: the record ``request.staff_id`` names, just added by ``actor`` in this
    request (see ``_target_staff``). ``at_console``: an operator's command made it with
    ``actor``'s rights (``roster staff import --invite``): it names no inviter, and its
    email none ("A member of ...")."""
    require(actor, Permit.INVITE_USERS)
    refuse_impersonation(actor)  # a way in is made under one's own name
    account = await session.get_one(Account, actor.account_id)
    v = _clean_request(actor, account, request, settings)
    email = v["email"]
    # Lock first: the duplicate checks below must see a concurrent invitation of this email,
    # and an inviter disabled or demoted meanwhile (``withdraw_ways_in``, under the same
    # lock) must not leave an invitation made with their old standing (``lock_members``).
    await lock_members(session, actor)
    # ... and the setting that lets them invite, read again under the lock (``lock_account``
    # reloads the account): turned off meanwhile, it withdrew what they had sent
    if not invites(actor.role, account.everyone_can_invite):
        raise Forbidden("Members of your role may no longer invite here.")
    precise = knows_addresses(actor)
    if not precise:
        # Seats first: a full account answers alike for every address (``_target_staff``).
        await reserve_seats(session, actor.account_id, role=_provisional_role(request))
    staff = await _target_staff(session, actor, request, email, created)
    role, kind = _invited_role(actor, request, staff, email)
    if precise:
        await reserve_seats(session, actor.account_id, role=role)
    now = utcnow()
    first = v["first_name"] or (staff.first_name if staff else None)
    had_record = staff is not None  # which may hold grants and shares its new role gives
    if staff is None:
        last = v["last_name"] or ""
        staff = Staff(
            account_id=actor.account_id,
            sid=await next_staff_sid(session, actor.account_id),
            first_name=first or "",  # never a name made up from the email
            last_name=last,
            last_name_key=sort_key(last),
            email=email,
            start_date=now.date(),
            created_at=now,
        )
    else:
        # The new invitation is the record's one: its earlier ones not yet accepted
        # (expired, as ``_target_staff`` refuses a pending one; to this address or an
        # old one) are revoked, so a resend of one never gives the record a second
        # pending invitation and reserved seat, nor its link a second way in.
        await revoke_open_invitations(session, staff)
    # a record added or readdressed to this email since ``_target_staff`` looked (those
    # writes take no account lock): the answer that record would have got there
    email_taken = (
        (lambda: DomainError(
            "Another staff member has this email.", field=["email"], code=ErrorCode.TAKEN
        ))
        if precise
        else NotInvitable
    )
    async with claim(session, {"uq_staff_account_id_email": email_taken}):
        session.add(staff)
        # the profile's fields, and the email (personal data) if it moves
        changed = ["role", "kind", "account_status", *(["email"] if staff.email != email else [])]
        staff.email = email
        staff.role = role
        staff.kind = kind
        staff.account_status = AccountStatus.INVITED
        stamps.touch(staff, changed, now)
    if had_record:
        await drop_redundant(session, staff)
    token = new_token("ri")
    invitation = Invitation(
        account_id=actor.account_id,
        staff_id=staff.id,
        email=email,
        role=role,
        inviter_staff_id=None if at_console else actor.staff_id,
        created_by_token_id=None if at_console else actor.api_key_id,
        message=v["message"],
        subject=v["subject"],
        bcc_inviter=request.bcc_sender,
        redirect_url=v["redirect_url"],
        token_digest=token_digest(token),
        expiry_days=v["days"],
        expires_at=now + timedelta(days=v["days"]),
        sent_count=1,
        last_sent_at=now,
        created_at=now,
    )
    session.add(invitation)
    await session.flush()
    inviter = None if at_console else await session.get(Staff, actor.staff_id)
    await _send(
        session,
        settings,
        invitation,
        token,
        template="invitation",
        account=account,
        inviter=inviter,
        first_name=v["first_name"],
        copy=invitation.bcc_inviter,
    )
    return invitation


@dataclass
class BulkRow:
    email: str
    invitation: Invitation | None
    errors: list[DomainError]


async def create_many(
    session: AsyncSession, actor: Actor, settings, requests: list[InvitationRequest]
) -> list[BulkRow]:
    """One result per row; valid rows succeed even when others fail (a savepoint each)."""
    require(actor, Permit.INVITE_USERS)
    refuse_impersonation(actor)  # a way in is made under one's own name
    if len(requests) > MAX_BULK:
        raise ValidationFailed(
            [
                DomainError(
                    f"At most {MAX_BULK} invitations at once.",
                    field=["rows"],
                    code=ErrorCode.LIMIT_REACHED,
                )
            ]
        )
    seen: dict[str, int] = {}
    results: list[BulkRow] = []
    for index, request in enumerate(requests):
        raw = request.email or ""
        try:
            email = clean_email(raw, required=True)
        except DomainError as exc:
            results.append(BulkRow(raw.strip(), None, [exc]))
            continue
        if email in seen:
            results.append(
                BulkRow(
                    email,
                    None,
                    [
                        DomainError(
                            f"Duplicate of row {seen[email] + 1} in this batch.",
                            field=["email"],
                            code=ErrorCode.TAKEN,
                        )
                    ],
                )
            )
            continue
        seen[email] = index
        position = changes.mark(session)
        try:
            async with session.begin_nested():
                invitation = await create_invitation(
                    session,
                    actor,
                    settings,
                    InvitationRequest(**{**request.__dict__, "email": email}),
                )
            results.append(BulkRow(email, invitation, []))
        except ValidationFailed as exc:
            changes.rollback_to(session, position)
            results.append(BulkRow(email, None, list(exc.errors)))
        except DomainError as exc:
            changes.rollback_to(session, position)
            results.append(BulkRow(email, None, [exc]))
        except RateLimited as exc:
            # one address past its allowance (which any account may use up) fails its
            # row alone: the batch's other rows are sent
            changes.rollback_to(session, position)
            refusal = DomainError(
                f"This address has had too many emails; try again in {exc.retry_after} s.",
                field=["email"],
                code=ErrorCode.LIMIT_REACHED,
            )
            results.append(BulkRow(email, None, [refusal]))
    return results


async def find_invitation(
    session: AsyncSession, actor: Actor, invitation_id: int
) -> Invitation | None:
    """An invitation by id, as the actor may look it up: another account's, or (for
    inviters who do not administer) another inviter's, is not found."""
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or not can_see_invitation(actor, invitation):
        return None
    return invitation


async def _get(session: AsyncSession, actor: Actor, invitation_id: int) -> Invitation:
    invitation = await find_invitation(session, actor, invitation_id)
    if invitation is None:
        raise NotFound("Invitation", field=["id"])
    return invitation


async def resend(session: AsyncSession, actor: Actor, settings, invitation_id: int) -> Invitation:
    """New token (the old link stops working), new expiry; also revives expired ones."""
    require(actor, Permit.INVITE_USERS)
    refuse_impersonation(actor)  # a way in is made under one's own name
    invitation = await _get(session, actor, invitation_id)
    # The account first (every change of members and invitations takes it first), with
    # the actor's role re-read under it, then the row (PostgreSQL): concurrent resends see
    # each other's last_sent_at, and a resend never revives an invitation accepted or
    # revoked meanwhile. The moment is taken under both: an invitation seen pending holds
    # its seat in every ledger counted since.
    await lock_members(session, actor)
    await session.refresh(invitation, with_for_update=True)
    now = utcnow()
    status = effective_status(invitation, now)
    if status in (InvitationStatus.ACCEPTED, InvitationStatus.REVOKED):
        raise DomainError(
            f"This invitation is {status.value.lower()}.",
            field=["id"],
            code=ErrorCode.INVALID_STATE,
        )
    staff = await session.get(Staff, invitation.staff_id) if invitation.staff_id else None
    # the record's role now (as staffRoleChange left it): what the seat and email are for
    role = staff.role if staff is not None else invitation.role
    if refusal := actor.refusal_to_offer(role):
        raise Forbidden(refusal, field=["id"])
    wait = (
        settings.invitation_resend_cooldown_seconds
        - (now - invitation.last_sent_at).total_seconds()
    )
    if wait > 0:
        raise RateLimited(wait, "This invitation was just sent; wait before resending.")
    if status == InvitationStatus.EXPIRED:
        await reserve_seats(session, actor.account_id, role=role)
    elif role != invitation.role:
        # A pending invitation holds a seat by its own role (the ledger counts it so):
        # the record's role may need one that role did not (a guest's invitation, the
        # record made a viewer), as staffRoleChange checks.
        account = await lock_account(session, actor.account_id)
        if not takes_seat(account, invitation.role):
            await reserve_seats(session, actor.account_id, role=role)
    invitation.role = role
    token = new_token("ri")
    invitation.token_digest = token_digest(token)
    # the new link was sent through this credential: it lasts as long as it does
    invitation.created_by_token_id = actor.api_key_id
    invitation.status = InvitationStatus.PENDING
    invitation.expires_at = now + timedelta(days=invitation.expiry_days)
    invitation.sent_count += 1
    invitation.last_sent_at = now
    if staff is not None and staff.account_status in (
        AccountStatus.INVITE_EXPIRED,
        AccountStatus.NOT_INVITED,
    ):
        staff.account_status = AccountStatus.INVITED
        stamps.touch(staff, ["account_status"], now)
    await session.flush()
    account = await session.get_one(Account, actor.account_id)
    inviter = await session.get(Staff, actor.staff_id)
    await _send(
        session,
        settings,
        invitation,
        token,
        template="invitation_resent",
        account=account,
        inviter=inviter,
        first_name=None,
        # the copy was asked for by who sent the invitation: another's resend is not theirs
        # to be told of as "you reminded", nor a copy its resender asked for
        copy=invitation.bcc_inviter and invitation.inviter_staff_id == actor.staff_id,
    )
    return invitation


async def revoke(session: AsyncSession, actor: Actor, invitation_id: int) -> Invitation:
    """The link stops working at once and the seat is free. Races with accept: one wins."""
    require(actor, Permit.INVITE_USERS)
    invitation = await _get(session, actor, invitation_id)
    # by rank alone: revoking hands nothing out (``may_offer``)
    if not may_offer(actor.role, invitation.role):
        raise Forbidden("You may not revoke an invitation above your own role.", field=["id"])
    now = utcnow()
    result = await session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.status.in_([InvitationStatus.PENDING, InvitationStatus.EXPIRED]),
        )
        .values(status=InvitationStatus.REVOKED, revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        await session.refresh(invitation)
        raise DomainError(
            f"This invitation is {invitation.status.value.lower()}.",
            field=["id"],
            code=ErrorCode.INVALID_STATE,
        )
    previous = invitation.status
    await session.refresh(invitation)
    changes.note(
        session,
        "invitations",
        invitation.id,
        invitation.account_id,
        {"status": (previous, InvitationStatus.REVOKED)},
    )
    if invitation.staff_id is not None:
        staff = await session.get(Staff, invitation.staff_id)
        if staff is not None and staff.account_status in (
            AccountStatus.INVITED,
            AccountStatus.INVITE_EXPIRED,
        ):
            staff.account_status = AccountStatus.NOT_INVITED
            stamps.touch(staff, ["account_status"], now)
    await session.flush()
    return invitation


async def by_token(
    session: AsyncSession, tokens: TokenGate, token: str | None
) -> Invitation | None:
    """The invitation whose link carries ``token``; counted by ``tokens`` first."""
    await tokens.count(session)
    if not token or len(token) > 200:
        return None
    return await session.scalar(
        select(Invitation).where(Invitation.token_digest == token_digest(token))
    )


async def _status_to_holder(session: AsyncSession, invitation: Invitation, now) -> InvitationStatus:
    """The invitation's status as its link's holder meets it (preview, acceptance): its
    ``effective_status``, and revoked when it was sent through an API key that has ended
    since (``key_ended``), lapsed or not, as the sweep will have it."""
    status = effective_status(invitation, now)
    if status in (InvitationStatus.PENDING, InvitationStatus.EXPIRED) and await key_ended(
        session, invitation.created_by_token_id
    ):
        return InvitationStatus.REVOKED
    return status


async def _usable(session: AsyncSession, invitation: Invitation | None, now) -> Invitation:
    """The invitation if its holder may accept it, else the typed error of its state."""
    if invitation is None:
        raise InvalidToken()
    status = await _status_to_holder(session, invitation, now)
    if status == InvitationStatus.ACCEPTED:
        raise TokenUsed()
    if status == InvitationStatus.REVOKED:
        raise InvitationRevoked()
    if status == InvitationStatus.EXPIRED:
        raise TokenExpired()
    return invitation


@dataclass
class Accepted:
    token: str
    account: Account
    staff: Staff
    user: User


async def accept(
    session: AsyncSession,
    passwords: PasswordService,
    settings,
    *,
    token: str,
    password: str | None,
    first_name: str | None,
    last_name: str | None,
    principal: Principal | None,
    gate: PasswordGate,
    tokens: TokenGate,
) -> Accepted:
    """Atomic: exactly one of several concurrent accepts of one token succeeds.

    An existing user who is not signed in gives their password: it is counted against
    the login limits, and a right password that cannot complete the acceptance gets the
    same answer as a wrong one (membership is checked first, without the password)."""
    now = utcnow()
    invitation = await _usable(session, await by_token(session, tokens, token), now)
    user = await get_user_by_email(session, invitation.email)
    first = clean_text(first_name, "first_name", max_length=100)
    last = clean_text(last_name, "last_name", max_length=100)
    if user is not None:
        await _check_existing_user(session, invitation, user, principal, password, gate)
    else:
        first, last = await _check_new_user(session, invitation, password, first, last)
    # What takes long or locks other accounts comes before this account's lock: a new
    # login's hash (the account's every change would wait for argon2), and the other
    # memberships an unconfirmed login waits on (``confirm_memberships`` locks their
    # accounts in its own order). The token arrived by email: using it proves the address.
    hashed = None
    if user is None and password is not None:
        hashed = await passwords.hash(password, held=True)
    elif user is not None and user.email_verified_at is None:
        user.email_verified_at = utcnow()
        # its confirmation links are spent: the address is confirmed
        await user_tokens.invalidate(session, user.id, UserTokenPurpose.EMAIL_VERIFICATION)
        await confirm_memberships(session, user.id)  # joined elsewhere, waiting for this
    # Claimed under the account lock, at a moment taken under it: the checks above took
    # their time (a password), and an invitation that expired meanwhile has had its seat
    # counted free by whatever invited or joined since (PostgreSQL).
    await lock_account(session, invitation.account_id)
    now = utcnow()
    await _claim(session, invitation, token, now)
    # as it is under the lock: a role change made while the password was checked
    # (``staffRoleChange`` changes the invitation's role too) is the role joined with
    await session.refresh(invitation)
    user, staff = await _join(session, passwords, invitation, user, password, hashed, first, last)
    session_token, _ = await issue_token(
        session, user, kind=TokenKind.SESSION, ttl=timedelta(hours=settings.session_ttl_hours)
    )
    account = await session.get_one(Account, invitation.account_id)
    return Accepted(token=session_token, account=account, staff=staff, user=user)


async def _check_existing_user(
    session: AsyncSession,
    invitation: Invitation,
    user: User,
    principal: Principal | None,
    password: str | None,
    gate: PasswordGate,
) -> None:
    """Not a member yet (asked first, without the password), and either signed in as
    themselves or giving their password (counted against the login limits)."""
    signed_in = principal is not None and principal.is_signed_in_user(user.id)
    if await member_of(session, invitation.account_id, user.id):
        raise AlreadyMember("token")
    if not signed_in and not await gate.check(session, user, password):
        raise LoginRequired()


async def _check_new_user(
    session: AsyncSession,
    invitation: Invitation,
    password: str | None,
    first: str | None,
    last: str | None,
) -> tuple[str, str]:
    """A new user chooses a good password and has a name (the staff record's, if the
    form leaves it out). Returns the first and last name."""
    if not password:
        raise DomainError("Choose a password.", field=["password"], code=ErrorCode.REQUIRED)
    if problem := password_problem(password, invitation.email):
        raise WeakPassword(problem)
    staff = await session.get(Staff, invitation.staff_id) if invitation.staff_id else None
    first = first or (staff.first_name if staff else None)
    last = last or (staff.last_name if staff and staff.last_name else None)
    if not first or not last:
        raise ValidationFailed(
            [
                DomainError("First and last name are required.", field=[f], code=ErrorCode.REQUIRED)
                for f, v in (("first_name", first), ("last_name", last))
                if not v
            ]
        )
    return first, last


async def _claim(session: AsyncSession, invitation: Invitation, token: str, now) -> None:
    """Mark the invitation accepted in one conditional UPDATE: of several concurrent
    accepts exactly one claims it; the others get the typed error for its new state."""
    claimed = await session.execute(
        update(Invitation)
        .where(
            and_(
                Invitation.id == invitation.id,
                Invitation.token_digest == token_digest(token),  # not rotated by a resend
                Invitation.status == InvitationStatus.PENDING,
                Invitation.expires_at > now,
                key_lives(Invitation.created_by_token_id, now),  # not ended meanwhile
            )
        )
        .values(status=InvitationStatus.ACCEPTED, accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], claimed).rowcount != 1:
        await session.refresh(invitation)
        await _usable(session, invitation, now)
        if invitation.token_digest != token_digest(token):
            raise InvalidToken()
        raise TokenUsed()
    changes.note(
        session,
        "invitations",
        invitation.id,
        invitation.account_id,
        {"status": (InvitationStatus.PENDING, InvitationStatus.ACCEPTED)},
    )


async def _join(
    session: AsyncSession,
    passwords: PasswordService,
    invitation: Invitation,
    user: User | None,
    password: str | None,
    hashed: str | None,
    first: str | None,
    last: str | None,
) -> tuple[User, Staff]:
    """The claimed invitation's user (made now with ``password``'s ``hashed``, verified by
    the emailed token) becomes an active member with the invitation's role, on its staff
    record if it has one."""
    if user is None:
        user = await create_user(
            session,
            passwords,
            email=invitation.email,
            password=password,
            first_name=first,
            last_name=last,
            verified=True,
            hashed=hashed,
        )
    staff = (
        await session.get(Staff, invitation.staff_id, populate_existing=True)
        if invitation.staff_id
        else None
    )
    staff = await activate(
        session,
        account_id=invitation.account_id,
        user=user,
        role=invitation.role,
        first_name=first,
        last_name=last,
        staff=staff,
    )
    await session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id)
        .values(accepted_user_id=user.id, staff_id=staff.id)
        .execution_options(synchronize_session=False)
    )
    return user, staff


@dataclass
class Preview:
    account_name: str
    inviter_name: str | None
    role: Role
    status: InvitationStatus
    expires_at: datetime
    # The names the inviter gave (the invitee's staff record): the acceptance form's start.
    first_name: str = ""
    last_name: str = ""


async def preview(session: AsyncSession, tokens: TokenGate, token: str) -> Preview | None:
    invitation = await by_token(session, tokens, token)
    if invitation is None:
        return None
    account = await session.get_one(Account, invitation.account_id)
    inviter = (
        await session.get(Staff, invitation.inviter_staff_id)
        if invitation.inviter_staff_id
        else None
    )
    invitee = await session.get(Staff, invitation.staff_id) if invitation.staff_id else None
    status = await _status_to_holder(session, invitation, utcnow())
    return Preview(
        account_name=account.name,
        inviter_name=full_name(inviter.first_name, inviter.last_name) or None if inviter else None,
        role=invitation.role,
        status=status,
        expires_at=invitation.expires_at,
        first_name=(invitee.first_name or "") if invitee else "",
        last_name=(invitee.last_name or "") if invitee else "",
    )


MAX_FILTER_EMAIL = 320


@dataclass(frozen=True)
class InvitationFilter:
    status: InvitationStatus | None = None
    staff_id: int | None = None  # invitations for this staff record
    email: str | None = None  # exact, any case (personal data: needs the permit)


def _filter_params(actor: Actor, f: InvitationFilter) -> dict[str, Any]:
    """The parameters of the filters ``f`` sets besides the status (``invitation_page``'s
    filters), refused if the actor may not filter so."""
    params: dict[str, Any] = {}
    if f.staff_id is not None:
        params["staff_id"] = f.staff_id
    if f.email is not None:
        # The invitee's email is personal data: filtering by it is no side channel
        # (as the directory's email sort and search).
        if not actor.can(Permit.VIEW_PERSONAL_DATA):
            raise DomainError(
                "Filtering by email needs the ViewPersonalData permit.", field=["email"]
            )
        if len(f.email) > MAX_FILTER_EMAIL or "\x00" in f.email:
            raise DomainError("email is not a valid filter.", field=["email"])
        # Stored normalised (``clean_email``): compared the same way.
        params["email"] = normalize_email(f.email)
    return params


def _listed(
    actor: Actor, status: InvitationStatus | None, filter: InvitationFilter | None
) -> tuple[InvitationStatus | None, dict[str, Any]]:
    """The status and the parameters of the invitations ``actor`` may list with these
    filters (the list's and its count's): refused without the permit, and an inviter who
    does not administer sees only their own."""
    require(actor, Permit.INVITE_USERS)
    f = filter or InvitationFilter()
    if status is not None:
        f = InvitationFilter(status=status, staff_id=f.staff_id, email=f.email)
    params = _filter_params(actor, f)
    if not administers_invitations(actor):
        params["inviter_staff_id"] = actor.staff_id
    return f.status, params


async def list_invitations(
    session: AsyncSession,
    actor: Actor,
    *,
    first: int,
    after: int | None,
    status: InvitationStatus | None = None,
    filter: InvitationFilter | None = None,
) -> tuple[list, bool]:
    """Newest first, keyset by id; an inviter who does not administer sees only their own.
    The invitations are read-only records (``INVITATION_RECORDS``)."""
    require(actor, Permit.INVITE_USERS)
    if not 0 <= first <= 100:
        raise DomainError("first must be between 0 and 100.", field=["first"])
    status, params = _listed(actor, status, filter)
    if after is not None:
        params["after"] = after
    statement = invitation_page(status, frozenset(params))
    params.update(account_id=actor.account_id, limit=first + 1, now=utcnow())
    connection = await connection_of(session)  # plain columns: no ORM needed
    rows = [INVITATION_RECORDS.take(r) for r in await statement.all(connection, params)]
    return rows[:first], len(rows) > first


async def count_invitations(
    session: AsyncSession,
    actor: Actor,
    *,
    status: InvitationStatus | None = None,
    filter: InvitationFilter | None = None,
) -> int:
    """How many invitations ``list_invitations`` lists with these filters, across all its
    pages (one statement)."""
    status, params = _listed(actor, status, filter)
    statement = invitation_count(status, frozenset(params))
    params.update(account_id=actor.account_id, now=utcnow())
    [[count]] = await statement.all(await connection_of(session), params)
    return count


async def latest_for_staff(
    session: AsyncSession, actor: Actor, staff_ids: list[int]
) -> dict[int, Invitation]:
    """Each record's latest invitation (by staff id), as a read-only record
    (``INVITATION_RECORDS``), where the actor may see it: another account's record has
    none, and an invitation the actor may not see is left out (the record shows none, not
    an older one). The session's changes are flushed first, as the ORM's query would."""
    if not staff_ids or not actor.can(Permit.INVITE_USERS):
        return {}
    params = {"account_id": actor.account_id, "staff_ids": list(staff_ids)}
    found = await LATEST_FOR_STAFF.read(session, params)
    rows = [INVITATION_RECORDS.take(r) for r in found]
    return {
        row.staff_id: row
        for row in rows
        if row.staff_id is not None and can_see_invitation(actor, row)
    }


async def sweep_expired(session: AsyncSession) -> int:
    """Record lapsed invitations as EXPIRED and their staff as INVITE_EXPIRED."""
    now = utcnow()
    lapsed = list(
        await session.scalars(
            select(Invitation)
            .where(Invitation.status == InvitationStatus.PENDING, Invitation.expires_at <= now)
            .limit(1000)
            .with_for_update(skip_locked=True)  # a concurrent sweep takes the others
        )
    )
    for invitation in lapsed:
        invitation.status = InvitationStatus.EXPIRED
    staff_ids = [i.staff_id for i in lapsed if i.staff_id is not None]
    if staff_ids:
        await session.execute(
            update(Staff)
            .where(Staff.id.in_(staff_ids), Staff.account_status == AccountStatus.INVITED)
            .values(
                account_status=AccountStatus.INVITE_EXPIRED,
                **stamps.moved(["account_status"], now),
            )
            .execution_options(synchronize_session=False)
        )
    await session.flush()
    return len(lapsed)
