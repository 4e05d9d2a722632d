"""Identity: logging in and out, API tokens, impersonation, sign-up, email verification,
and passwords (reset, change, an administrator's reset link)."""

from __future__ import annotations

from datetime import timedelta

import strawberry
from strawberry.types import Info

from app.graphql.enums import ApiScope
from app.graphql.ids import decode_id
from app.graphql.mutations.base import (
    Payload,
    as_actor,
    as_principal,
    attempt,
    commit_if_alone,
    holds_others_work,
    mutation,
    public,
)
from app.graphql.types.account import ApiToken, MemberAccount, User
from app.graphql.types.staff import Staff
from app.identity import impersonation, recovery, signup
from app.identity import service as identity
from app.staff import membership
from app.staff import service as staff_service


@strawberry.input(description="Credentials.")
class LoginInput:
    email: str = strawberry.field(description="Login email (any case, surrounding spaces ok).")
    password: str = strawberry.field(description="Password.")


@strawberry.type(description="A new session, or userErrors.")
class LoginPayload(Payload):
    token: str | None = strawberry.field(default=None, description="Session token: send as Bearer.")
    user: User | None = strawberry.field(default=None, description="The user.")
    accounts: list[MemberAccount] = strawberry.field(
        default_factory=list, description="Accounts and roles."
    )


@strawberry.type(description="Result of logging out.")
class LogoutPayload(Payload):
    ok: bool = strawberry.field(default=False, description="The token no longer works.")


@strawberry.input(description="A new API token for the current account.")
class ApiTokenCreateInput:
    name: str = strawberry.field(description="A label, e.g. the integration's name.")
    expires_in_days: int | None = strawberry.field(
        default=None, description="Lifetime in days (default 90, at most 365)."
    )
    scopes: list[ApiScope] | None = strawberry.field(
        default=None,
        description="What the key may do; each must be within your role (else FORBIDDEN). "
        "Null: every scope your role reaches except SCIM.",
    )


@strawberry.type(description="The new token; its secret is shown only here.")
class ApiTokenCreatePayload(Payload):
    token: str | None = strawberry.field(default=None, description="The secret: send as Bearer.")
    api_token: ApiToken | None = strawberry.field(default=None, description="The token's record.")


@strawberry.input(description="The token to revoke.")
class ApiTokenRevokeInput:
    id: strawberry.ID = strawberry.field(description="Global id of the API token.")


@strawberry.type(description="The revoked token.")
class ApiTokenRevokePayload(Payload):
    api_token: ApiToken | None = strawberry.field(
        default=None, description="The token, now revoked."
    )


@strawberry.input(description="Create a login and a new account you own.")
class SignupInput:
    email: str = strawberry.field(description="Your email; you will confirm it.")
    password: str = strawberry.field(description="10 to 256 characters, not your email.")
    first_name: str = strawberry.field(description="Given name.")
    last_name: str = strawberry.field(description="Family name.")
    account_name: str = strawberry.field(description="Your organisation's name.")
    account_slug: str | None = strawberry.field(
        default=None,
        description="Optional slug. The account takes it (or, without one, a slug made from "
        "its name) when you confirm your email; if another account took it first, with a "
        "suffix.",
    )


@strawberry.type(description="Always the same answer: check your email.")
class SignupPayload(Payload):
    ok: bool = strawberry.field(default=False, description="True unless userErrors.")


@strawberry.input(description="A token from an emailed link (email confirmation: and the "
                  "login's password).")
class TokenInput:
    token: str = strawberry.field(description="The token.")
    password: str | None = strawberry.field(
        default=None,
        description="The password chosen when the login was made (signing up or joining): "
        "needed for a login that has one, so that only who made it confirms it.",
    )


@strawberry.type(description="A session for the verified user, or userErrors.")
class EmailVerifyPayload(Payload):
    token: str | None = strawberry.field(default=None, description="Session token.")
    user: User | None = strawberry.field(default=None, description="The user.")


@strawberry.input(description="An email address.")
class EmailInput:
    email: str = strawberry.field(description="The email.")
    redirect_url: str | None = strawberry.field(
        default=None, description="Frontend page for the emailed link (allow-listed origins)."
    )


@strawberry.type(description="Always the same answer, whether or not the email is known.")
class OkPayload(Payload):
    ok: bool = strawberry.field(default=False, description="The request was taken.")


@strawberry.input(description="Set a new password with an emailed reset or welcome link.")
class PasswordResetInput:
    token: str = strawberry.field(description="The token from the link.")
    new_password: str = strawberry.field(description="10 to 256 characters, not your email.")


@strawberry.type(
    description="A fresh session (every other session and API token ended), or userErrors."
)
class PasswordResetPayload(Payload):
    token: str | None = strawberry.field(default=None, description="Session token.")
    user: User | None = strawberry.field(default=None, description="The user.")


@strawberry.input(description="Change your password.")
class PasswordChangeInput:
    current_password: str = strawberry.field(description="Your current password.")
    new_password: str = strawberry.field(description="10 to 256 characters, not your email.")
    revoke_api_tokens: bool = strawberry.field(
        default=False, description="Also end every API token you own, in every account."
    )


@strawberry.input(description="The member to send a reset link to.")
class StaffPasswordResetSendInput:
    staff_id: strawberry.ID = strawberry.field(description="The member.")


@strawberry.input(description="Log in as a member below your role, for a stated reason.")
class ImpersonationStartInput:
    staff_id: strawberry.ID = strawberry.field(description="The member.")
    reason: str = strawberry.field(description="Why (kept in the audit log).")
    minutes: int = strawberry.field(default=30, description="1 to 60.")


@strawberry.type(description="A token acting as the member in this account only.")
class ImpersonationStartPayload(Payload):
    token: str | None = strawberry.field(default=None, description="Send as Bearer; expires soon.")
    staff: Staff | None = strawberry.field(default=None, description="Who you act as.")


@strawberry.type(description="Impersonation ended.")
class ImpersonationStopPayload(Payload):
    ok: bool = strawberry.field(
        default=False, description="The impersonation token no longer works."
    )


def _ok(*_) -> OkPayload:
    return OkPayload(ok=True)


@strawberry.type
class SessionMutations:
    """Logging in and out, and API tokens."""

    @mutation(description="Log in with email and password; returns a session token.")
    async def login(self, info: Info, input: LoginInput) -> LoginPayload:
        ctx = info.context
        ttl = timedelta(hours=ctx.settings.session_ttl_hours)
        gate = ctx.services.password_gate(ctx.client_address)
        passwords = ctx.services.passwords

        async with ctx.db() as session:
            others = holds_others_work(session)
            user, errors = await attempt(
                session,
                lambda: identity.login_candidate(session, input.email),
                before=lambda: gate.count(session, input.email),
            )
            checked_hash = user.password_hash if user else None
            # The hits stay counted, and no transaction (on SQLite, the write lock) is held
            # while argon2 runs; unless another root field kept work (``commit_if_alone``).
            alone = await commit_if_alone(session, others=others)
        if errors:  # not an email address at all
            return LoginPayload(user_errors=errors)
        matched = await gate.matches(user, input.password, held=not alone)

        async def log_in(session):
            result = await identity.complete_login(
                session,
                passwords,
                user_id=user.id if user else None,
                checked_hash=checked_hash,
                matched=matched,
                password=input.password,
                session_ttl=ttl,
            )
            await gate.succeeded(session, input.email)
            return result

        return await public(
            info,
            log_in,
            lambda result: LoginPayload(
                token=result.token,
                user=User(_row=result.user),
                accounts=[MemberAccount.of(m) for m in result.memberships],
            ),
        )

    @mutation(
        description="End the current session (the token stops working), and every "
        "impersonation you started (impersonationStart)."
    )
    async def logout(self, info: Info) -> LogoutPayload:
        async with info.context.as_principal() as (session, principal):
            await identity.log_out(session, principal)
        return LogoutPayload(ok=True)

    @mutation(
        description="Create an API token bound to the current account (your own signed-in "
        "session only: not with an API key or while impersonating).",
        own_session=True,
    )
    async def api_token_create(
        self, info: Info, input: ApiTokenCreateInput
    ) -> ApiTokenCreatePayload:
        settings = info.context.settings
        return await as_actor(
            info,
            lambda session, actor: identity.create_api_token(
                session,
                actor,
                name=input.name,
                expires_in_days=input.expires_in_days,
                default_days=settings.api_token_default_days,
                max_days=settings.api_token_max_days,
                scopes=input.scopes,
            ),
            lambda created, actor: ApiTokenCreatePayload(
                token=created[0], api_token=ApiToken(_row=created[1])
            ),
        )

    @mutation(
        description="Revoke one of your API tokens (administrators: any of the account's); "
        "it stops working at once, and the invitations not yet accepted that were sent "
        "through it and the join links made through it are withdrawn. Your own signed-in "
        "session only.",
        own_session=True,
    )
    async def api_token_revoke(
        self, info: Info, input: ApiTokenRevokeInput
    ) -> ApiTokenRevokePayload:
        token_id = decode_id(input.id, "ApiToken")
        return await as_actor(
            info,
            lambda session, actor: membership.revoke_api_key(session, actor, token_id),
            lambda row, actor: ApiTokenRevokePayload(api_token=ApiToken(_row=row)),
        )


@strawberry.type
class IdentityMutations:
    """Impersonation, sign-up, email verification and passwords."""

    @mutation(
        description="Log in as a member strictly below your role, for at most 60 "
        "minutes, in this account only (your own signed-in session only).",
        own_session=True,
    )
    async def impersonation_start(
        self, info: Info, input: ImpersonationStartInput
    ) -> ImpersonationStartPayload:
        staff_id = decode_id(input.staff_id, "Staff")

        async def start(session, actor):
            token, _ = await impersonation.start(
                session, actor, staff_id, input.reason, input.minutes
            )
            return token, await staff_service.get_staff(session, actor, staff_id)

        return await as_actor(
            info,
            start,
            lambda started, actor: ImpersonationStartPayload(
                token=started[0], staff=Staff.build(started[1], actor)
            ),
        )

    @mutation(description="End the impersonation (the token stops working).")
    async def impersonation_stop(self, info: Info) -> ImpersonationStopPayload:
        return await as_actor(
            info,
            impersonation.stop,
            lambda _, actor: ImpersonationStopPayload(ok=True),
        )

    @mutation(
        description="Sign up: a login and a new account you own. Sign-in needs "
        "the emailed confirmation first."
    )
    async def signup(self, info: Info, input: SignupInput) -> SignupPayload:
        ctx = info.context
        return await public(
            info,
            lambda session: signup.signup(
                session,
                ctx.services.passwords,
                ctx.settings,
                email=input.email,
                password=input.password,
                first_name=input.first_name,
                last_name=input.last_name,
                account_name=input.account_name,
                account_slug=input.account_slug,
                limiter=ctx.services.limiter,
            ),
            lambda _: SignupPayload(ok=True),
            before=lambda session: ctx.services.limiter.hit(
                session, "signup_address", ctx.client_address
            ),
        )

    @mutation(description="Confirm an email address with the emailed token.")
    async def email_verify(self, info: Info, input: TokenInput) -> EmailVerifyPayload:
        ctx = info.context
        return await public(
            info,
            lambda session: signup.verify_email(
                session,
                ctx.settings,
                input.token,
                password=input.password,
                tokens=ctx.token_gate(),
                gate=ctx.services.password_gate(ctx.client_address),
            ),
            lambda verified: EmailVerifyPayload(token=verified[0], user=User(_row=verified[1])),
        )

    @mutation(
        description="Send the confirmation email again (same answer always). Public; with a "
        "token, only a signed-in session (not an API key or an impersonation).",
        own_session=True,
    )
    async def email_verification_resend(self, info: Info, input: EmailInput) -> OkPayload:
        ctx = info.context
        return await public(
            info,
            lambda session: signup.resend_verification(
                session,
                ctx.settings,
                input.email,
                db=ctx.services.db,
                audit_as=(ctx.request_id, ctx.client_address),
            ),
            _ok,
            before=lambda session: ctx.services.limiter.hit(
                session, "verification_address", ctx.client_address
            ),
        )

    @mutation(
        description="Email a password reset link (same answer whether or not the email is known)."
    )
    async def password_reset_request(self, info: Info, input: EmailInput) -> OkPayload:
        ctx = info.context
        return await public(
            info,
            lambda session: recovery.request_reset(
                session,
                ctx.services.passwords,
                ctx.settings,
                input.email,
                input.redirect_url,
                db=ctx.services.db,
                audit_as=(ctx.request_id, ctx.client_address),
            ),
            _ok,
            before=lambda session: recovery.count_reset_request(
                session, ctx.services.limiter, ctx.client_address
            ),
        )

    @mutation(
        description="Set a new password with a reset link (single use); every "
        "session and API token of the user, every impersonation they started and every "
        "other emailed link of theirs (reset, welcome, verification, email change) ends.",
    )
    async def password_reset(self, info: Info, input: PasswordResetInput) -> PasswordResetPayload:
        ctx = info.context
        return await public(
            info,
            lambda session: recovery.reset_password(
                session,
                ctx.services.passwords,
                ctx.settings,
                input.token,
                input.new_password,
                tokens=ctx.token_gate(),
            ),
            lambda reset: PasswordResetPayload(token=reset[0], user=User(_row=reset[1])),
        )

    @mutation(
        description="Change your password (needs the current one); your other sessions "
        "and the impersonations you started end, and so do your unused emailed links "
        "(reset, welcome, verification, email change); with revokeApiTokens your API "
        "tokens too. Your own signed-in session only (not an API key or an impersonation).",
        own_session=True,
    )
    async def password_change(self, info: Info, input: PasswordChangeInput) -> OkPayload:
        ctx = info.context
        return await as_principal(
            info,
            lambda session, principal: recovery.change_password(
                session,
                ctx.services.passwords,
                ctx.settings,
                gate=ctx.services.password_gate(ctx.client_address),
                user_id=principal.user_id,
                token_id=principal.token_id,
                current_password=input.current_password,
                new_password=input.new_password,
                revoke_api_tokens=input.revoke_api_tokens,
            ),
            _ok,
        )

    @mutation(description="Email a member a password reset link (administrators).")
    async def staff_password_reset_send(
        self, info: Info, input: StaffPasswordResetSendInput
    ) -> OkPayload:
        settings = info.context.settings
        staff_id = decode_id(input.staff_id, "Staff")

        async def send(session, actor):
            staff = await staff_service.get_staff(session, actor, staff_id, field="staff_id")
            return await recovery.admin_send_reset(session, settings, actor, staff)

        return await as_actor(info, send, _ok)
