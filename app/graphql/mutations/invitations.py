from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.graphql.enums import JoinOutcome, Role
from app.graphql.errors import UserError, user_errors
from app.graphql.ids import decode_id
from app.graphql.mutations.base import Payload, attempt, mutation
from app.graphql.mutations.staff import StaffFieldsInput, staff_changes
from app.graphql.types.account import Account
from app.graphql.types.invitations import Invitation, JoinLink, JoinRequest
from app.graphql.types.staff import Staff
from app.invitations import join_links, registration
from app.invitations import service as invitations
from app.invitations.service import InvitationRequest

UNSET = strawberry.UNSET


@strawberry.input(description="Email options shared by invitations and welcome emails.")
class EmailOptionsInput:
    subject: str | None = strawberry.field(default=None, description="Subject line override.")
    message: str | None = strawberry.field(default=None, description="Personal message.")
    bcc_sender: bool = strawberry.field(
        default=False,
        description="Email the sender a copy (without the link, which goes to its owner alone).",
    )


@strawberry.input(description="Invite someone by email.")
class InvitationCreateInput:
    email: str = strawberry.field(description="Their email.")
    role: Role = strawberry.field(default=Role.VIEWER, description="Role on accepting.")
    first_name: str | None = strawberry.field(default=None, description="Given name.")
    last_name: str | None = strawberry.field(default=None, description="Family name.")
    message: str | None = strawberry.field(default=None, description="Personal message.")
    subject: str | None = strawberry.field(default=None, description="Subject line override.")
    bcc_sender: bool = strawberry.field(
        default=False,
        description="Email yourself a copy (without the link, which goes to its owner alone).",
    )
    expires_in_days: int | None = strawberry.field(
        default=None, description="1 to 30 (default: the account's setting)."
    )
    staff_id: strawberry.ID | None = strawberry.field(
        default=None, description="Invite this existing NOT_INVITED staff record."
    )
    redirect_url: str | None = strawberry.field(
        default=None, description="Frontend page for the link (origin must be allow-listed)."
    )


def to_request(i: InvitationCreateInput) -> InvitationRequest:
    return InvitationRequest(
        email=i.email,
        role=i.role,
        first_name=i.first_name,
        last_name=i.last_name,
        message=i.message,
        subject=i.subject,
        bcc_sender=i.bcc_sender,
        expires_in_days=i.expires_in_days,
        staff_id=decode_id(i.staff_id, "Staff"),
        redirect_url=i.redirect_url,
    )


@strawberry.type(description="The invitation, or userErrors.")
class InvitationPayload(Payload):
    invitation: Invitation | None = strawberry.field(description="The invitation.")


@strawberry.input(description="Up to 500 invitations, e.g. pasted from a CSV.")
class InvitationBulkCreateInput:
    rows: list[InvitationCreateInput] = strawberry.field(description="One invitation per row.")


@strawberry.type(description="The outcome of one row of a bulk invitation.")
class InvitationBulkRow:
    email: str = strawberry.field(description="The row's email, normalised when valid.")
    invitation: Invitation | None = strawberry.field(description="Created invitation.")
    user_errors: list[UserError] = strawberry.field(description="Why this row failed.")


@strawberry.type(description="One result per row; valid rows succeed even if others fail.")
class InvitationBulkCreatePayload(Payload):
    results: list[InvitationBulkRow] = strawberry.field(description="In input order.")
    created_count: int = strawberry.field(description="Rows that created an invitation.")


@strawberry.input(description="An invitation to act on.")
class InvitationIdInput:
    id: strawberry.ID = strawberry.field(description="The invitation.")


@strawberry.input(description="Accept an invitation.")
class InvitationAcceptInput:
    token: str = strawberry.field(description="The token from the emailed link.")
    password: str | None = strawberry.field(
        default=None,
        description="New users choose one; existing users give theirs unless signed in.",
    )
    first_name: str | None = strawberry.field(default=None, description="Given name.")
    last_name: str | None = strawberry.field(default=None, description="Family name.")


@strawberry.type(description="The new membership and a session, or userErrors.")
class InvitationAcceptPayload(Payload):
    token: str | None = strawberry.field(description="Session token.")
    account: Account | None = strawberry.field(description="The account joined.")
    staff: Staff | None = strawberry.field(description="Your staff record there.")


@strawberry.input(description="A new join link.")
class JoinLinkCreateInput:
    role: Role | None = strawberry.field(
        default=None, description="Role of those who join (default: the account's setting)."
    )
    expires_in_days: int | None = strawberry.field(
        default=None, description="1 to 365 (default: the account's setting, else never)."
    )
    max_uses: int | None = strawberry.field(default=None, description="Uses allowed.")
    allowed_domains: list[str] | None = strawberry.field(
        default=None, description="Only these email domains may join."
    )
    requires_approval: bool | None = strawberry.field(
        default=None,
        description="Joins wait for an administrator's approval (default: the account's setting).",
    )


@strawberry.type(description="The link and its URL (the URL is shown only here), or userErrors.")
class JoinLinkPayload(Payload):
    join_link: JoinLink | None = strawberry.field(description="The link.")
    url: str | None = strawberry.field(description="The shareable URL.")


@strawberry.input(description="Join an account through a join link.")
class JoinLinkJoinInput:
    token: str = strawberry.field(description="The token from the link.")
    email: str = strawberry.field(description="Your email.")
    password: str | None = strawberry.field(
        default=None, description="New users choose one; existing users give theirs."
    )
    first_name: str = strawberry.field(description="Given name.")
    last_name: str = strawberry.field(description="Family name.")


@strawberry.type(description="What happened, or userErrors.")
class JoinLinkJoinPayload(Payload):
    outcome: JoinOutcome | None = strawberry.field(description="Joined, or waiting for approval.")
    account_name: str | None = strawberry.field(description="The account.")
    email_verification_required: bool = strawberry.field(
        description="A new login must confirm its email before signing in."
    )


@strawberry.input(description="A join request to decide.")
class JoinRequestIdInput:
    id: strawberry.ID = strawberry.field(description="The request.")


@strawberry.type(description="The decided request, or userErrors.")
class JoinRequestPayload(Payload):
    join_request: JoinRequest | None = strawberry.field(description="The request.")
    staff: Staff | None = strawberry.field(description="The new member, when approved.")


@strawberry.input(
    description="Register a member directly (ACTIVE at once, with a new login; an existing "
    "login is invited instead)."
)
class StaffRegisterInput(StaffFieldsInput):
    role: Role | None = strawberry.field(default=UNSET, description="Role (VIEWER).")
    send_welcome: bool = strawberry.field(default=True, description="Send the welcome email.")
    welcome: EmailOptionsInput | None = strawberry.field(
        default=None, description="Subject, message and BCC of the welcome email."
    )
    redirect_url: str | None = strawberry.field(
        default=None, description="Frontend page for the set-password link."
    )


@strawberry.type(description="The new member, or userErrors.")
class StaffRegisterPayload(Payload):
    staff: Staff | None = strawberry.field(description="The member.")


def _invitation(row, actor) -> Invitation | None:
    return Invitation(_row=row, _actor=actor) if row else None


@strawberry.type
class InvitationMutations:
    @mutation(description="Invite someone by email (reserves a seat).")
    async def invitation_create(
        self, info: Info, input: InvitationCreateInput
    ) -> InvitationPayload:
        settings = info.context.settings
        async with info.context.as_actor() as (session, actor):
            row, errors = await attempt(
                session,
                before=lambda: info.context.services.limiter.hit(
                    session, "invitations_account", actor.account_id, 1
                ),
                action=lambda: invitations.create_invitation(
                    session, actor, settings, to_request(input)
                ),
            )
        return InvitationPayload(invitation=_invitation(row, actor), user_errors=errors)

    @mutation(description="Invite up to 500 people; one result per row.")
    async def invitation_bulk_create(
        self, info: Info, input: InvitationBulkCreateInput
    ) -> InvitationBulkCreatePayload:
        settings = info.context.settings
        async with info.context.as_actor() as (session, actor):
            rows, errors = await attempt(
                session,
                before=lambda: info.context.services.limiter.hit(
                    session, "invitations_account", actor.account_id, len(input.rows)
                ),
                action=lambda: invitations.create_many(
                    session, actor, settings, [to_request(r) for r in input.rows]
                ),
            )
        results = [
            InvitationBulkRow(
                email=r.email,
                invitation=_invitation(r.invitation, actor),
                user_errors=[e for err in r.errors for e in user_errors(err)],
            )
            for r in rows or []
        ]
        return InvitationBulkCreatePayload(
            results=results,
            created_count=sum(1 for r in results if r.invitation),
            user_errors=errors,
        )

    @mutation(description="Send again with a new link and expiry (cooldown applies).")
    async def invitation_resend(self, info: Info, input: InvitationIdInput) -> InvitationPayload:
        settings = info.context.settings
        async with info.context.as_actor() as (session, actor):
            row, errors = await attempt(
                session,
                before=lambda: info.context.services.limiter.hit(
                    session, "invitations_account", actor.account_id, 1
                ),
                action=lambda: invitations.resend(
                    session, actor, settings, decode_id(input.id, "Invitation")
                ),
            )
        return InvitationPayload(invitation=_invitation(row, actor), user_errors=errors)

    @mutation(description="Withdraw an invitation: the link stops working at once.")
    async def invitation_revoke(self, info: Info, input: InvitationIdInput) -> InvitationPayload:
        async with info.context.as_actor() as (session, actor):
            row, errors = await attempt(
                session,
                lambda: invitations.revoke(session, actor, decode_id(input.id, "Invitation")),
            )
        return InvitationPayload(invitation=_invitation(row, actor), user_errors=errors)

    @mutation(description="Accept an invitation (public); signs you in.", while_impersonating=False)
    async def invitation_accept(
        self, info: Info, input: InvitationAcceptInput
    ) -> InvitationAcceptPayload:
        ctx = info.context
        async with ctx.as_anyone() as (session, principal):
            result, errors = await attempt(
                session,
                lambda: invitations.accept(
                    session,
                    ctx.services.passwords,
                    ctx.settings,
                    token=input.token,
                    password=input.password,
                    first_name=input.first_name,
                    last_name=input.last_name,
                    principal=principal,
                    gate=ctx.services.password_gate(ctx.client_address),
                ),
            )
            if errors:
                return InvitationAcceptPayload(
                    token=None, account=None, staff=None, user_errors=errors
                )
            assert result is not None  # no userErrors: the action's value
            from app.identity.models import TokenKind
            from app.identity.service import Principal, build_actor

            principal = Principal(result.user.id, 0, TokenKind.SESSION, None)  # the new session
            actor = await build_actor(session, principal, result.account, result.staff)
        return InvitationAcceptPayload(
            token=result.token,
            account=Account(_row=result.account),
            staff=Staff.build(result.staff, actor),
            user_errors=[],
        )

    @mutation(description="Create a shareable join link (administrators).")
    async def join_link_create(self, info: Info, input: JoinLinkCreateInput) -> JoinLinkPayload:
        settings = info.context.settings
        async with info.context.as_actor() as (session, actor):
            result, errors = await attempt(
                session,
                lambda: join_links.create_link(
                    session,
                    actor,
                    role=input.role,
                    expires_in_days=input.expires_in_days,
                    max_uses=input.max_uses,
                    allowed_domains=input.allowed_domains,
                    requires_approval=input.requires_approval,
                ),
            )
        if errors:
            return JoinLinkPayload(join_link=None, url=None, user_errors=errors)
        assert result is not None  # no userErrors: the action's value
        token, row = result
        return JoinLinkPayload(
            join_link=JoinLink(_row=row), url=join_links.url_for(settings, token), user_errors=[]
        )

    @mutation(description="Give a join link a new URL; the old one stops working.")
    async def join_link_rotate(self, info: Info, input: InvitationIdInput) -> JoinLinkPayload:
        settings = info.context.settings
        async with info.context.as_actor() as (session, actor):
            result, errors = await attempt(
                session,
                lambda: join_links.rotate_link(session, actor, decode_id(input.id, "JoinLink")),
            )
        if errors:
            return JoinLinkPayload(join_link=None, url=None, user_errors=errors)
        assert result is not None  # no userErrors: the action's value
        token, row = result
        return JoinLinkPayload(
            join_link=JoinLink(_row=row), url=join_links.url_for(settings, token), user_errors=[]
        )

    @mutation(description="Turn a join link off.")
    async def join_link_disable(self, info: Info, input: InvitationIdInput) -> JoinLinkPayload:
        async with info.context.as_actor() as (session, actor):
            row, errors = await attempt(
                session,
                lambda: join_links.disable_link(session, actor, decode_id(input.id, "JoinLink")),
            )
        return JoinLinkPayload(
            join_link=JoinLink(_row=row) if row else None, url=None, user_errors=errors
        )

    @mutation(
        description="Join an account through a join link (public).", while_impersonating=False
    )
    async def join_link_join(self, info: Info, input: JoinLinkJoinInput) -> JoinLinkJoinPayload:
        ctx = info.context
        async with ctx.as_anyone() as (session, principal):
            result, errors = await attempt(
                session,
                before=lambda: join_links.count_join(
                    session, ctx.services.limiter, ctx.client_address
                ),
                action=lambda: join_links.join(
                    session,
                    ctx.services.passwords,
                    ctx.settings,
                    token=input.token,
                    email=input.email,
                    password=input.password,
                    first_name=input.first_name,
                    last_name=input.last_name,
                    principal=principal,
                    gate=ctx.services.password_gate(ctx.client_address),
                ),
            )
        if errors:
            return JoinLinkJoinPayload(
                outcome=None,
                account_name=None,
                email_verification_required=False,
                user_errors=errors,
            )
        assert result is not None  # no userErrors: the action's value
        return JoinLinkJoinPayload(
            outcome=result.outcome,
            account_name=result.account.name,
            email_verification_required=result.email_verification_required,
            user_errors=[],
        )

    async def _decide(self, info: Info, input: JoinRequestIdInput, approve: bool):
        async with info.context.as_actor() as (session, actor):
            result, errors = await attempt(
                session,
                lambda: join_links.decide(
                    session, actor, decode_id(input.id, "JoinRequest"), approve=approve
                ),
            )
            email = None
            if result:
                from app.identity.models import User as UserRow

                email = (await session.get(UserRow, result[0].user_id)).email
        if errors:
            return JoinRequestPayload(join_request=None, staff=None, user_errors=errors)
        assert result is not None and email is not None  # no userErrors
        request, staff = result
        return JoinRequestPayload(
            join_request=JoinRequest(_row=request, _email=email),
            staff=Staff.build(staff, actor) if staff else None,
            user_errors=[],
        )

    @mutation(description="Let a join request in (needs a free seat).")
    async def join_request_approve(
        self, info: Info, input: JoinRequestIdInput
    ) -> JoinRequestPayload:
        return await InvitationMutations._decide(self, info, input, True)

    @mutation(description="Turn a join request down.")
    async def join_request_reject(
        self, info: Info, input: JoinRequestIdInput
    ) -> JoinRequestPayload:
        return await InvitationMutations._decide(self, info, input, False)

    @mutation(
        description="Register a member directly: ACTIVE at once; the welcome "
        "email holds a one-time set-password link. An address that already has a Roster "
        "login is invited instead (INVITED, a seat reserved): it joins only by accepting."
    )
    async def staff_register(self, info: Info, input: StaffRegisterInput) -> StaffRegisterPayload:
        ctx = info.context
        data = staff_changes(input)
        for key in ("send_welcome", "welcome", "redirect_url"):
            data.pop(key, None)
        welcome = input.welcome or EmailOptionsInput()
        async with ctx.as_actor() as (session, actor):
            row, errors = await attempt(
                session,
                lambda: registration.register(
                    session,
                    ctx.services.passwords,
                    ctx.settings,
                    actor,
                    data,
                    send_welcome=input.send_welcome,
                    subject=welcome.subject,
                    message=welcome.message,
                    bcc_sender=welcome.bcc_sender,
                    redirect_url=input.redirect_url,
                ),
            )
        return StaffRegisterPayload(
            staff=Staff.build(row, actor) if row else None, user_errors=errors
        )
