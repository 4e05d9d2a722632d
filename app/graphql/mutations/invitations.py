"""Invitations, join links and join requests, and direct registration (``staffRegister``)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.graphql.enums import JoinOutcome, Role, StaffKind
from app.graphql.errors import UserError, user_errors
from app.graphql.ids import decode_id
from app.graphql.mutations.base import Payload, as_actor, as_anyone, mutation
from app.graphql.mutations.staff import StaffFieldsInput, staff_changes
from app.graphql.types.account import Account
from app.graphql.types.invitations import Invitation, JoinLink, JoinRequest
from app.graphql.types.staff import Staff
from app.identity import service as identity
from app.invitations import join_links, open_signup, registration
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
    role: Role | None = strawberry.field(
        default=None,
        description="Role on accepting (default: guest for customers and vendors, else viewer).",
    )
    kind: StaffKind | None = strawberry.field(
        default=None,
        description="Kind of the record (default: the record's own; a new one: employee).",
    )
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
        kind=i.kind,
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
    invitation: Invitation | None = strawberry.field(default=None, description="The invitation.")


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
    results: list[InvitationBulkRow] = strawberry.field(
        default_factory=list, description="In input order."
    )
    created_count: int = strawberry.field(default=0, description="Rows that created an invitation.")


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
    token: str | None = strawberry.field(default=None, description="Session token.")
    account: Account | None = strawberry.field(default=None, description="The account joined.")
    staff: Staff | None = strawberry.field(default=None, description="Your staff record there.")


@strawberry.input(description="A new join link.")
class JoinLinkCreateInput:
    role: Role | None = strawberry.field(
        default=None,
        description="Role of those who join (default: guest for a customer or vendor link, "
        "else the account's setting).",
    )
    kind: StaffKind | None = strawberry.field(
        default=None, description="Kind of record newcomers get (default: employee)."
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
    join_link: JoinLink | None = strawberry.field(default=None, description="The link.")
    url: str | None = strawberry.field(default=None, description="The shareable URL.")


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
    outcome: JoinOutcome | None = strawberry.field(
        default=None, description="Joined, or waiting for approval."
    )
    account_name: str | None = strawberry.field(default=None, description="The account.")
    email_verification_required: bool = strawberry.field(
        default=False, description="A new login must confirm its email before signing in."
    )


@strawberry.input(description="Sign up into an account that takes sign-ups, as a customer.")
class AccountSignupInput:
    account: str = strawberry.field(description="The account's slug (or numeric realm id).")
    email: str = strawberry.field(description="Your email.")
    password: str | None = strawberry.field(
        default=None, description="New users choose one; existing users give theirs."
    )
    first_name: str = strawberry.field(description="Given name.")
    last_name: str = strawberry.field(description="Family name.")


@strawberry.type(description="The account joined, or userErrors.")
class AccountSignupPayload(Payload):
    account_name: str | None = strawberry.field(default=None, description="The account.")
    email_verification_required: bool = strawberry.field(
        default=False,
        description="Confirm the email (a link was sent) before signing in; until then the "
        "membership waits, UNCONFIRMED.",
    )


@strawberry.input(description="A join request to decide.")
class JoinRequestIdInput:
    id: strawberry.ID = strawberry.field(description="The request.")


@strawberry.type(description="The decided request, or userErrors.")
class JoinRequestPayload(Payload):
    join_request: JoinRequest | None = strawberry.field(default=None, description="The request.")
    staff: Staff | None = strawberry.field(
        default=None, description="The new member, when approved."
    )


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
    staff: Staff | None = strawberry.field(default=None, description="The member.")


def _invitation(row, actor) -> InvitationPayload:
    return InvitationPayload(invitation=Invitation(_row=row, _actor=actor))


def _bulk_created(rows, actor) -> InvitationBulkCreatePayload:
    results = [
        InvitationBulkRow(
            email=r.email,
            invitation=Invitation(_row=r.invitation, _actor=actor) if r.invitation else None,
            user_errors=[e for err in r.errors for e in user_errors(err)],
        )
        for r in rows
    ]
    return InvitationBulkCreatePayload(
        results=results, created_count=sum(1 for r in results if r.invitation)
    )


def _link_with_url(settings):
    """The payload of a new link or URL: the URL is shown only here."""

    def payload(created, actor) -> JoinLinkPayload:
        token, row = created
        return JoinLinkPayload(
            join_link=JoinLink(_row=row), url=join_links.url_for(settings, token)
        )

    return payload


def _sends(info: Info, count: int | None = None):
    """The ``before`` of a mutation sending one invitation email, or a bulk's ``count``."""
    limiter = info.context.services.limiter
    if count is None:
        return lambda session, actor: invitations.count_sent(session, limiter, actor)
    return lambda session, actor: invitations.count_bulk_sent(session, limiter, actor, count)


async def _joining(info: Info, input, attempt, count, payload):
    """Join an account (through a link, or its sign-up): ``attempt`` with the input's
    fields and the caller's principal, after ``count`` counted it against its per-address
    limit; the joined result as ``payload``."""
    ctx = info.context
    return await as_anyone(
        info,
        lambda session, principal: attempt(
            session,
            ctx.services.passwords,
            ctx.settings,
            email=input.email,
            password=input.password,
            first_name=input.first_name,
            last_name=input.last_name,
            principal=principal,
            gate=ctx.services.password_gate(ctx.client_address),
        ),
        payload,
        before=lambda session, _: count(session, ctx.services.limiter, ctx.client_address),
    )


@strawberry.type
class InvitationMutations:
    @mutation(
        description="Invite someone by email (reserves a seat).",
        while_impersonating=False,
    )
    async def invitation_create(
        self, info: Info, input: InvitationCreateInput
    ) -> InvitationPayload:
        settings = info.context.settings
        return await as_actor(
            info,
            lambda session, actor: invitations.create_invitation(
                session, actor, settings, to_request(input)
            ),
            _invitation,
            before=_sends(info),
        )

    @mutation(
        description="Invite up to 500 people; one result per row.",
        while_impersonating=False,
    )
    async def invitation_bulk_create(
        self, info: Info, input: InvitationBulkCreateInput
    ) -> InvitationBulkCreatePayload:
        settings = info.context.settings
        return await as_actor(
            info,
            lambda session, actor: invitations.create_many(
                session, actor, settings, [to_request(r) for r in input.rows]
            ),
            _bulk_created,
            before=_sends(info, len(input.rows)),
        )

    @mutation(
        description="Send again with a new link and expiry (cooldown applies).",
        while_impersonating=False,
    )
    async def invitation_resend(self, info: Info, input: InvitationIdInput) -> InvitationPayload:
        settings = info.context.settings
        invitation_id = decode_id(input.id, "Invitation")
        return await as_actor(
            info,
            lambda session, actor: invitations.resend(session, actor, settings, invitation_id),
            _invitation,
            before=_sends(info),
        )

    @mutation(description="Withdraw an invitation: the link stops working at once.")
    async def invitation_revoke(self, info: Info, input: InvitationIdInput) -> InvitationPayload:
        invitation_id = decode_id(input.id, "Invitation")
        return await as_actor(
            info,
            lambda session, actor: invitations.revoke(session, actor, invitation_id),
            _invitation,
        )

    @mutation(
        description="Accept an invitation (public); signs you in.",
        while_impersonating=False,
    )
    async def invitation_accept(
        self, info: Info, input: InvitationAcceptInput
    ) -> InvitationAcceptPayload:
        ctx = info.context

        async def accept(session, principal):
            accepted = await invitations.accept(
                session,
                ctx.services.passwords,
                ctx.settings,
                token=input.token,
                password=input.password,
                first_name=input.first_name,
                last_name=input.last_name,
                principal=principal,
                gate=ctx.services.password_gate(ctx.client_address),
                tokens=ctx.token_gate(),
            )
            member = await identity.member_actor(
                session, accepted.user.id, accepted.account, accepted.staff
            )
            return accepted, member

        return await as_anyone(
            info,
            accept,
            lambda done: InvitationAcceptPayload(
                token=done[0].token,
                account=Account(_row=done[0].account),
                staff=Staff.build(done[0].staff, done[1]),
            ),
        )

    @mutation(
        description="Create a shareable join link (administrators).",
        while_impersonating=False,
    )
    async def join_link_create(self, info: Info, input: JoinLinkCreateInput) -> JoinLinkPayload:
        return await as_actor(
            info,
            lambda session, actor: join_links.create_link(
                session,
                actor,
                role=input.role,
                kind=input.kind,
                expires_in_days=input.expires_in_days,
                max_uses=input.max_uses,
                allowed_domains=input.allowed_domains,
                requires_approval=input.requires_approval,
            ),
            _link_with_url(info.context.settings),
        )

    @mutation(
        description="Give a join link a new URL; the old one stops working.",
        while_impersonating=False,
    )
    async def join_link_rotate(self, info: Info, input: InvitationIdInput) -> JoinLinkPayload:
        link_id = decode_id(input.id, "JoinLink")
        return await as_actor(
            info,
            lambda session, actor: join_links.rotate_link(session, actor, link_id),
            _link_with_url(info.context.settings),
        )

    @mutation(description="Turn a join link off.")
    async def join_link_disable(self, info: Info, input: InvitationIdInput) -> JoinLinkPayload:
        link_id = decode_id(input.id, "JoinLink")
        return await as_actor(
            info,
            lambda session, actor: join_links.disable_link(session, actor, link_id),
            lambda row, actor: JoinLinkPayload(join_link=JoinLink(_row=row)),
        )

    @mutation(
        description="Join an account through a join link (public).", while_impersonating=False
    )
    async def join_link_join(self, info: Info, input: JoinLinkJoinInput) -> JoinLinkJoinPayload:
        return await _joining(
            info,
            input,
            lambda session, passwords, settings, **fields: join_links.join(
                session,
                passwords,
                settings,
                token=input.token,
                tokens=info.context.token_gate(),
                **fields,
            ),
            join_links.count_join,
            lambda joined: JoinLinkJoinPayload(
                outcome=joined.outcome,
                account_name=joined.account.name,
                email_verification_required=joined.email_verification_required,
            ),
        )

    @mutation(
        description="Sign up into an account that allows it (its accountUpdate selfSignup "
        "setting) as a customer, a guest: the same answer whether or not the email has a "
        "login; a new one confirms its email before signing in.",
        while_impersonating=False,
    )
    async def account_signup(self, info: Info, input: AccountSignupInput) -> AccountSignupPayload:
        return await _joining(
            info,
            input,
            lambda session, passwords, settings, **fields: open_signup.sign_up(
                session, passwords, settings, realm=input.account, **fields
            ),
            open_signup.count_signup,
            lambda joined: AccountSignupPayload(
                account_name=joined.account.name,
                email_verification_required=joined.email_verification_required,
            ),
        )

    async def _decide(self, info: Info, input: JoinRequestIdInput, approve: bool):
        request_id = decode_id(input.id, "JoinRequest")

        async def decide(session, actor):
            request, staff = await join_links.decide(session, actor, request_id, approve=approve)
            return request, staff, await join_links.requester_email(session, actor, request)

        return await as_actor(
            info,
            decide,
            lambda decided, actor: JoinRequestPayload(
                join_request=JoinRequest(_row=decided[0], _email=decided[2]),
                staff=Staff.build(decided[1], actor) if decided[1] else None,
            ),
        )

    @mutation(
        description="Let a join request in (needs a free seat).", while_impersonating=False
    )
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
        "login is invited instead (INVITED, a seat reserved): it joins only by accepting.",
        while_impersonating=False,
    )
    async def staff_register(self, info: Info, input: StaffRegisterInput) -> StaffRegisterPayload:
        ctx = info.context
        data = staff_changes(input)
        for key in ("send_welcome", "welcome", "redirect_url"):
            data.pop(key, None)
        welcome = input.welcome or EmailOptionsInput()
        return await as_actor(
            info,
            lambda session, actor: registration.register(
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
                options_at=("welcome",),
            ),
            lambda row, actor: StaffRegisterPayload(staff=Staff.build(row, actor)),
            before=lambda session, actor: registration.count_welcome(
                session, ctx.services.limiter, actor
            ),
        )
