"""Identity: logging in and out, API tokens, impersonation, sign-up, email verification,
and passwords (reset, change, an administrator's reset link)."""

from __future__ import annotations

from datetime import timedelta

import strawberry
from strawberry.types import Info

from app.graphql.ids import decode_id
from app.graphql.mutations.base import Payload, attempt, mutation
from app.graphql.types.account import ApiToken, MemberAccount, User
from app.graphql.types.staff import Staff
from app.identity import impersonation, recovery, signup
from app.identity import service as identity
from app.staff import service as staff_service


@strawberry.input(description="Credentials.")
class LoginInput:
    email: str = strawberry.field(description="Login email (any case, surrounding spaces ok).")
    password: str = strawberry.field(description="Password.")


@strawberry.type(description="A new session, or userErrors.")
class LoginPayload(Payload):
    token: str | None = strawberry.field(description="Session token: send as Bearer.")
    user: User | None = strawberry.field(description="The user.")
    accounts: list[MemberAccount] = strawberry.field(description="Accounts and roles.")


@strawberry.type(description="Result of logging out.")
class LogoutPayload(Payload):
    ok: bool = strawberry.field(description="The token no longer works.")


@strawberry.input(description="A new API token for the current account.")
class ApiTokenCreateInput:
    name: str = strawberry.field(description="A label, e.g. the integration's name.")
    expires_in_days: int | None = strawberry.field(
        default=None, description="Lifetime in days (default 90, at most 365)."
    )


@strawberry.type(description="The new token; its secret is shown only here.")
class ApiTokenCreatePayload(Payload):
    token: str | None = strawberry.field(description="The secret: send as Bearer.")
    api_token: ApiToken | None = strawberry.field(description="The token's record.")


@strawberry.input(description="The token to revoke.")
class ApiTokenRevokeInput:
    id: strawberry.ID = strawberry.field(description="Global id of the API token.")


@strawberry.type(description="The revoked token.")
class ApiTokenRevokePayload(Payload):
    api_token: ApiToken | None = strawberry.field(description="The token, now revoked.")


@strawberry.input(description="Create a login and a new account you own.")
class SignupInput:
    email: str = strawberry.field(description="Your email; you will confirm it.")
    password: str = strawberry.field(description="10 to 256 characters, not your email.")
    first_name: str = strawberry.field(description="Given name.")
    last_name: str = strawberry.field(description="Family name.")
    account_name: str = strawberry.field(description="Your organisation's name.")
    account_slug: str | None = strawberry.field(default=None, description="Optional slug.")


@strawberry.type(description="Always the same answer: check your email.")
class SignupPayload(Payload):
    ok: bool = strawberry.field(description="True unless userErrors.")


@strawberry.input(description="A token from an emailed link.")
class TokenInput:
    token: str = strawberry.field(description="The token.")


@strawberry.type(description="A session for the verified user, or userErrors.")
class EmailVerifyPayload(Payload):
    token: str | None = strawberry.field(description="Session token.")
    user: User | None = strawberry.field(description="The user.")


@strawberry.input(description="An email address.")
class EmailInput:
    email: str = strawberry.field(description="The email.")
    redirect_url: str | None = strawberry.field(
        default=None, description="Frontend page for the emailed link (allow-listed origins)."
    )


@strawberry.type(description="Always the same answer, whether or not the email is known.")
class OkPayload(Payload):
    ok: bool = strawberry.field(description="The request was taken.")


@strawberry.input(description="Set a new password with an emailed reset or welcome link.")
class PasswordResetInput:
    token: str = strawberry.field(description="The token from the link.")
    new_password: str = strawberry.field(description="10 to 256 characters, not your email.")


@strawberry.type(
    description="A fresh session (every other session and API token ended), or userErrors."
)
class PasswordResetPayload(Payload):
    token: str | None = strawberry.field(description="Session token.")
    user: User | None = strawberry.field(description="The user.")


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
    token: str | None = strawberry.field(description="Send as Bearer; expires soon.")
    staff: Staff | None = strawberry.field(description="Who you act as.")


@strawberry.type(description="Impersonation ended.")
class ImpersonationStopPayload(Payload):
    ok: bool = strawberry.field(description="The impersonation token no longer works.")


@strawberry.type
class SessionMutations:
    @mutation(description="Log in with email and password; returns a session token.")
    async def login(self, info: Info, input: LoginInput) -> LoginPayload:
        ctx = info.context
        ttl = timedelta(hours=ctx.settings.session_ttl_hours)
        gate = ctx.services.password_gate(ctx.client_address)
        passwords = ctx.services.passwords

        async with ctx.db() as session:
            user, errors = await attempt(
                session,
                lambda: identity.login_candidate(session, input.email),
                before=lambda: gate.count(session, input.email),
            )
            checked_hash = user.password_hash if user else None
            # The hits stay counted, and no transaction (on SQLite, the write lock) is held
            # while argon2 runs.
            await session.commit()
        if errors:  # not an email address at all
            return LoginPayload(token=None, user=None, accounts=[], user_errors=errors)
        matched = await gate.matches(user, input.password)

        async def log_in():
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

        async with ctx.db() as session:
            result, errors = await attempt(session, log_in)
        if errors:
            return LoginPayload(token=None, user=None, accounts=[], user_errors=errors)
        return LoginPayload(
            token=result.token,
            user=User(_row=result.user),
            accounts=[MemberAccount.of(m) for m in result.memberships],
            user_errors=[],
        )

    @mutation(description="End the current session (the token stops working).")
    async def logout(self, info: Info) -> LogoutPayload:
        async with info.context.as_principal() as (session, principal):
            await identity.revoke_token(session, principal.token_id)
        return LogoutPayload(ok=True, user_errors=[])

    @mutation(
        description="Create an API token bound to the current account.", while_impersonating=False
    )
    async def api_token_create(
        self, info: Info, input: ApiTokenCreateInput
    ) -> ApiTokenCreatePayload:
        settings = info.context.settings
        async with info.context.as_actor() as (session, actor):
            result, errors = await attempt(
                session,
                lambda: identity.create_api_token(
                    session,
                    actor,
                    name=input.name,
                    expires_in_days=input.expires_in_days,
                    default_days=settings.api_token_default_days,
                    max_days=settings.api_token_max_days,
                ),
            )
        if errors:
            return ApiTokenCreatePayload(token=None, api_token=None, user_errors=errors)
        token, row = result
        return ApiTokenCreatePayload(token=token, api_token=ApiToken(_row=row), user_errors=[])

    @mutation(description="Revoke one of your API tokens; it stops working at once.")
    async def api_token_revoke(
        self, info: Info, input: ApiTokenRevokeInput
    ) -> ApiTokenRevokePayload:
        async with info.context.as_actor() as (session, actor):
            row, errors = await attempt(
                session,
                lambda: identity.revoke_api_token(session, actor, decode_id(input.id, "ApiToken")),
            )
        return ApiTokenRevokePayload(
            api_token=ApiToken(_row=row) if row else None, user_errors=errors
        )


@strawberry.type
class IdentityMutations:
    @mutation(
        description="Log in as a member strictly below your role, for at most 60 "
        "minutes, in this account only.",
        while_impersonating=False,
    )
    async def impersonation_start(
        self, info: Info, input: ImpersonationStartInput
    ) -> ImpersonationStartPayload:
        async with info.context.as_actor() as (session, actor):
            staff_id = decode_id(input.staff_id, "Staff")
            result, errors = await attempt(
                session,
                lambda: impersonation.start(session, actor, staff_id, input.reason, input.minutes),
            )
            target = None
            if not errors:
                from app.staff.service import get_staff

                target = await get_staff(session, actor, staff_id)
        if errors:
            return ImpersonationStartPayload(token=None, staff=None, user_errors=errors)
        return ImpersonationStartPayload(
            token=result[0], staff=Staff.build(target, actor), user_errors=[]
        )

    @mutation(description="End the impersonation (the token stops working).")
    async def impersonation_stop(self, info: Info) -> ImpersonationStopPayload:
        async with info.context.as_actor() as (session, actor):
            _, errors = await attempt(session, lambda: impersonation.stop(session, actor))
        return ImpersonationStopPayload(ok=not errors, user_errors=errors)

    @mutation(
        description="Sign up: a login and a new account you own. Sign-in needs "
        "the emailed confirmation first."
    )
    async def signup(self, info: Info, input: SignupInput) -> SignupPayload:
        ctx = info.context
        async with ctx.db() as session:
            _, errors = await attempt(
                session,
                before=lambda: ctx.services.limiter.hit(
                    session, "signup_address", ctx.client_address
                ),
                action=lambda: signup.signup(
                    session,
                    ctx.services.passwords,
                    ctx.settings,
                    email=input.email,
                    password=input.password,
                    first_name=input.first_name,
                    last_name=input.last_name,
                    account_name=input.account_name,
                    account_slug=input.account_slug,
                ),
            )
        return SignupPayload(ok=not errors, user_errors=errors)

    @mutation(description="Confirm an email address with the emailed token.")
    async def email_verify(self, info: Info, input: TokenInput) -> EmailVerifyPayload:
        ctx = info.context
        async with ctx.db() as session:
            result, errors = await attempt(
                session, lambda: signup.verify_email(session, ctx.settings, input.token)
            )
        if errors:
            return EmailVerifyPayload(token=None, user=None, user_errors=errors)
        return EmailVerifyPayload(token=result[0], user=User(_row=result[1]), user_errors=[])

    @mutation(description="Send the confirmation email again (same answer always).")
    async def email_verification_resend(self, info: Info, input: EmailInput) -> OkPayload:
        ctx = info.context
        async with ctx.db() as session:
            _, errors = await attempt(
                session,
                before=lambda: ctx.services.limiter.hit(
                    session, "verification_address", ctx.client_address
                ),
                action=lambda: signup.resend_verification(session, ctx.settings, input.email),
            )
        return OkPayload(ok=not errors, user_errors=errors)

    @mutation(
        description="Email a password reset link (same answer whether or not the email is known)."
    )
    async def password_reset_request(self, info: Info, input: EmailInput) -> OkPayload:
        ctx = info.context
        async with ctx.db() as session:
            _, errors = await attempt(
                session,
                before=lambda: recovery.count_reset_request(
                    session, ctx.services.limiter, ctx.client_address
                ),
                action=lambda: recovery.request_reset(
                    session,
                    ctx.services.passwords,
                    ctx.settings,
                    input.email,
                    input.redirect_url,
                    db=ctx.services.db,
                    audit_as=(ctx.request_id, ctx.client_address),
                ),
            )
        return OkPayload(ok=not errors, user_errors=errors)

    @mutation(
        description="Set a new password with a reset link (single use); every "
        "session and API token of the user ends."
    )
    async def password_reset(self, info: Info, input: PasswordResetInput) -> PasswordResetPayload:
        ctx = info.context
        async with ctx.db() as session:
            result, errors = await attempt(
                session,
                lambda: recovery.reset_password(
                    session, ctx.services.passwords, ctx.settings, input.token, input.new_password
                ),
            )
        if errors:
            return PasswordResetPayload(token=None, user=None, user_errors=errors)
        return PasswordResetPayload(token=result[0], user=User(_row=result[1]), user_errors=[])

    @mutation(
        description="Change your password (needs the current one); your other sessions "
        "end, and with revokeApiTokens your API tokens too.",
        while_impersonating=False,
    )
    async def password_change(self, info: Info, input: PasswordChangeInput) -> OkPayload:
        ctx = info.context
        async with ctx.as_principal() as (session, principal):
            _, errors = await attempt(
                session,
                lambda: recovery.change_password(
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
            )
        return OkPayload(ok=not errors, user_errors=errors)

    @mutation(description="Email a member a password reset link (administrators).")
    async def staff_password_reset_send(
        self, info: Info, input: StaffPasswordResetSendInput
    ) -> OkPayload:
        ctx = info.context

        async def send():
            staff = await staff_service.get_staff(
                session, actor, decode_id(input.staff_id, "Staff"), field="staffId"
            )
            return await recovery.admin_send_reset(session, ctx.settings, actor, staff)

        async with ctx.as_actor() as (session, actor):
            _, errors = await attempt(session, send)
        return OkPayload(ok=not errors, user_errors=errors)
