"""The account: its name and settings, its plan, its ownership."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.accounts import admin_service
from app.graphql.enums import Plan, Role
from app.graphql.ids import decode_id
from app.graphql.mutations.base import Payload, as_actor, mutation, provided
from app.graphql.types.account import Account
from app.graphql.types.staff import Staff

UNSET = strawberry.UNSET


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
    timezone: str | None = strawberry.field(
        default=UNSET,
        description="The firm's time zone, an IANA name: a staff record's when it has none.",
    )
    guests_take_seats: bool | None = strawberry.field(
        default=UNSET,
        description="Guests (customers and vendors) count against the seat limit (owner).",
    )
    self_signup: bool | None = strawberry.field(
        default=UNSET,
        description="Anyone may sign up into this account as a customer (a guest), on its "
        "sign-up page or with accountSignup.",
    )
    scim_invites: bool | None = strawberry.field(
        default=UNSET,
        description="Invite (and email) each person provisioned through SCIM; otherwise "
        "their record is added without a login.",
    )


@strawberry.type(description="The account after the change, or userErrors.")
class AccountPayload(Payload):
    account: Account | None = strawberry.field(default=None, description="The account.")


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
    previous_owner: Staff | None = strawberry.field(
        default=None, description="Now an administrator."
    )
    owner: Staff | None = strawberry.field(default=None, description="The new owner.")


def _account(row, actor) -> AccountPayload:
    return AccountPayload(account=Account(_row=row))


def _transferred(owners, actor) -> AccountOwnershipTransferPayload:
    previous, new = owners
    return AccountOwnershipTransferPayload(
        previous_owner=Staff.build(previous, actor), owner=Staff.build(new, actor)
    )


@strawberry.type
class AccountMutations:
    @mutation(description="Change the account's name and settings (administrators).")
    async def account_update(self, info: Info, input: AccountUpdateInput) -> AccountPayload:
        changes = provided(input)
        return await as_actor(
            info,
            lambda session, actor: admin_service.update_account(session, actor, changes),
            _account,
        )

    @mutation(
        description="Change the plan (owner). A downgrade below current use is refused "
        "with PLAN_TOO_SMALL saying how many seats to free.",
        while_impersonating=False,
    )
    async def account_plan_change(
        self, info: Info, input: AccountPlanChangeInput
    ) -> AccountPayload:
        return await as_actor(
            info,
            lambda session, actor: admin_service.change_plan(
                session, actor, input.plan, input.seat_limit
            ),
            _account,
        )

    @mutation(
        description="Transfer ownership to an active administrator (owner, with password).",
        while_impersonating=False,
    )
    async def account_ownership_transfer(
        self, info: Info, input: AccountOwnershipTransferInput
    ) -> AccountOwnershipTransferPayload:
        ctx = info.context
        gate = ctx.services.password_gate(ctx.client_address)
        staff_id = decode_id(input.staff_id, "Staff")
        return await as_actor(
            info,
            lambda session, actor: admin_service.transfer_ownership(
                session, gate, actor, staff_id, input.password
            ),
            _transferred,
        )
