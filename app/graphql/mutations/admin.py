from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.accounts import admin_service
from app.graphql.enums import Plan, Role
from app.graphql.ids import decode_id
from app.graphql.mutations.base import Payload, attempt, mutation, provided
from app.graphql.types.account import Account
from app.graphql.types.staff import Staff
from app.identity import impersonation
from app.staff import membership

UNSET = strawberry.UNSET


@strawberry.input(description="The member to act on.")
class StaffIdInput:
    staff_id: strawberry.ID = strawberry.field(description="The member.")


@strawberry.type(description="The member after the change, or userErrors.")
class StaffAdminPayload(Payload):
    staff: Staff | None = strawberry.field(description="The member.")


@strawberry.type(description="The deleted member's id, or userErrors.")
class StaffDeletePayload(Payload):
    deleted_staff_id: strawberry.ID | None = strawberry.field(description="Id of the record.")


@strawberry.input(description="A new role for a member below your own role.")
class StaffRoleChangeInput:
    staff_id: strawberry.ID = strawberry.field(description="The member.")
    role: Role = strawberry.field(description="The new role (not above your own, never OWNER).")


@strawberry.input(description="Account name and settings (administrators).")
class AccountUpdateInput:
    name: str | None = strawberry.field(default=UNSET, description="Display name.")
    everyone_can_invite: bool | None = strawberry.field(
        default=UNSET, description="Any member may invite viewers and editors."
    )
    invitation_expiry_days: int | None = strawberry.field(
        default=UNSET, description="Default invitation lifetime, 1 to 30 days."
    )
    join_link_role: Role | None = strawberry.field(
        default=UNSET, description="Default role of new join links."
    )
    join_link_expiry_days: int | None = strawberry.field(
        default=UNSET, description="Default lifetime of new join links (null: never expire)."
    )
    join_link_requires_approval: bool | None = strawberry.field(
        default=UNSET, description="New join links need an administrator's approval by default."
    )


@strawberry.type(description="The account after the change, or userErrors.")
class AccountPayload(Payload):
    account: Account | None = strawberry.field(description="The account.")


@strawberry.input(description="Change the plan (owner).")
class AccountPlanChangeInput:
    plan: Plan = strawberry.field(description="The plan.")
    seat_limit: int | None = strawberry.field(default=None, description="Seats, CUSTOM only.")


@strawberry.input(description="Hand the account to an active administrator.")
class AccountOwnershipTransferInput:
    staff_id: strawberry.ID = strawberry.field(description="The new owner (an administrator).")
    password: str = strawberry.field(description="Your password, to confirm.")


@strawberry.type(description="Both members after the transfer, or userErrors.")
class AccountOwnershipTransferPayload(Payload):
    previous_owner: Staff | None = strawberry.field(description="Now an administrator.")
    owner: Staff | None = strawberry.field(description="The new owner.")


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


def _staff(actor, row, errors) -> StaffAdminPayload:
    return StaffAdminPayload(staff=Staff.build(row, actor) if row else None, user_errors=errors)


@strawberry.type
class AdminMutations:
    @mutation(
        description="Disable a member: their access to this account stops at once; "
        "data is kept; the seat is freed."
    )
    async def staff_disable(self, info: Info, input: StaffIdInput) -> StaffAdminPayload:
        async with info.context.as_actor() as (session, actor):
            row, errors = await attempt(
                session,
                lambda: membership.disable(session, actor, decode_id(input.staff_id, "Staff")),
            )
        return _staff(actor, row, errors)

    @mutation(description="Enable a disabled member (needs a free seat).")
    async def staff_enable(self, info: Info, input: StaffIdInput) -> StaffAdminPayload:
        async with info.context.as_actor() as (session, actor):
            row, errors = await attempt(
                session,
                lambda: membership.enable(session, actor, decode_id(input.staff_id, "Staff")),
            )
        return _staff(actor, row, errors)

    @mutation(
        description="Delete a record made in error (the audit log keeps it).",
        while_impersonating=False,
    )
    async def staff_delete(self, info: Info, input: StaffIdInput) -> StaffDeletePayload:
        async with info.context.as_actor() as (session, actor):
            row, errors = await attempt(
                session,
                lambda: membership.delete(session, actor, decode_id(input.staff_id, "Staff")),
            )
        return StaffDeletePayload(
            deleted_staff_id=input.staff_id if row else None, user_errors=errors
        )

    @mutation(
        description="Change a member's role (downwards of your own).", while_impersonating=False
    )
    async def staff_role_change(self, info: Info, input: StaffRoleChangeInput) -> StaffAdminPayload:
        async with info.context.as_actor() as (session, actor):
            row, errors = await attempt(
                session,
                lambda: membership.change_role(
                    session, actor, decode_id(input.staff_id, "Staff"), input.role
                ),
            )
        return _staff(actor, row, errors)

    @mutation(description="Change the account's name and settings (administrators).")
    async def account_update(self, info: Info, input: AccountUpdateInput) -> AccountPayload:
        async with info.context.as_actor() as (session, actor):
            row, errors = await attempt(
                session, lambda: admin_service.update_account(session, actor, provided(input))
            )
        return AccountPayload(account=Account(_row=row) if row else None, user_errors=errors)

    @mutation(
        description="Change the plan (owner). A downgrade below current use is refused "
        "with PLAN_TOO_SMALL saying how many seats to free.",
        while_impersonating=False,
    )
    async def account_plan_change(
        self, info: Info, input: AccountPlanChangeInput
    ) -> AccountPayload:
        async with info.context.as_actor() as (session, actor):
            row, errors = await attempt(
                session,
                lambda: admin_service.change_plan(session, actor, input.plan, input.seat_limit),
            )
        return AccountPayload(account=Account(_row=row) if row else None, user_errors=errors)

    @mutation(
        description="Transfer ownership to an active administrator (owner, with password).",
        while_impersonating=False,
    )
    async def account_ownership_transfer(
        self, info: Info, input: AccountOwnershipTransferInput
    ) -> AccountOwnershipTransferPayload:
        ctx = info.context
        async with ctx.as_actor() as (session, actor):
            result, errors = await attempt(
                session,
                lambda: admin_service.transfer_ownership(
                    session,
                    ctx.services.password_gate(ctx.client_address),
                    actor,
                    decode_id(input.staff_id, "Staff"),
                    input.password,
                ),
            )
        if errors:
            return AccountOwnershipTransferPayload(
                previous_owner=None, owner=None, user_errors=errors
            )
        assert result is not None  # no userErrors: the action's value
        old, new = result
        return AccountOwnershipTransferPayload(
            previous_owner=Staff.build(old, actor), owner=Staff.build(new, actor), user_errors=[]
        )

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
        assert result is not None and target is not None  # no userErrors
        return ImpersonationStartPayload(
            token=result[0], staff=Staff.build(target, actor), user_errors=[]
        )

    @mutation(description="End the impersonation (the token stops working).")
    async def impersonation_stop(self, info: Info) -> ImpersonationStopPayload:
        async with info.context.as_actor() as (session, actor):
            _, errors = await attempt(session, lambda: impersonation.stop(session, actor))
        return ImpersonationStopPayload(ok=not errors, user_errors=errors)
