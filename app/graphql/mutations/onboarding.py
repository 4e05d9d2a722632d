from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.graphql.ids import decode_id
from app.graphql.mutations.base import Payload, attempt, mutation
from app.graphql.types.account import User
from app.identity import recovery, signup
from app.staff import service as staff_service


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


@strawberry.type
class OnboardingMutations:
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
        assert result is not None  # no userErrors: the action's value
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
        assert result is not None  # no userErrors: the action's value
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
