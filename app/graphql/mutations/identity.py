from __future__ import annotations

from datetime import timedelta

import strawberry
from strawberry.types import Info

from app.graphql.ids import decode_id
from app.graphql.mutations.base import Payload, attempt, mutation
from app.graphql.types.account import ApiToken, MemberAccount, User
from app.identity import service as identity


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


@strawberry.type
class IdentityMutations:
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
        assert result is not None  # no userErrors: the action's value
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
        assert result is not None  # no userErrors: the action's value
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
