from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from app.access.scopes import parse_scopes
from app.accounts import service as accounts
from app.accounts.models import Account as AccountRow
from app.graphql.enums import ApiScope, Permit, Role
from app.graphql.ids import encode_id
from app.graphql.types.common import Node
from app.graphql.types.staff import Staff
from app.identity.models import AuthToken as AuthTokenRow
from app.identity.models import User as UserRow


@strawberry.type(description="The seat ledger of an account.")
class Seats:
    limit: int = strawberry.field(description="Seats the plan allows.")
    used: int = strawberry.field(description="Active members.")
    reserved: int = strawberry.field(
        description="Seats held by pending invitations and by members who joined but have "
        "not confirmed their email yet."
    )
    available: int = strawberry.field(description="Seats free for new members or invitations.")
    guests: int = strawberry.field(
        description="Active guests (customers and vendors); in `used` when guests take seats."
    )
    guests_reserved: int = strawberry.field(
        description="Pending invitations of guests; in `reserved` when guests take seats."
    )
    guests_take_seats: bool = strawberry.field(
        description="Whether guests count against the limit (the account's setting)."
    )


@strawberry.type(description="Settings an administrator controls.")
class AccountSettings:
    everyone_can_invite: bool = strawberry.field(
        description="Any member may invite viewers and editors."
    )
    invitation_expiry_days: int = strawberry.field(description="Default invitation lifetime.")
    join_link_role: Role = strawberry.field(description="Default role of new join links.")
    join_link_expiry_days: int | None = strawberry.field(
        description="Default lifetime of new join links in days (null: never)."
    )
    join_link_requires_approval: bool = strawberry.field(
        description="New join links need approval by default."
    )
    timezone: str = strawberry.field(
        description="The firm's time zone, an IANA name (UTC unless set): a staff record "
        "without a home time zone is in it (Staff.effectiveTimezone)."
    )
    guests_take_seats: bool = strawberry.field(
        description="Guests (customers and vendors) count against the seat limit."
    )
    self_signup: bool = strawberry.field(
        description="Anyone may sign up into this account as a customer (a guest)."
    )
    scim_invites: bool = strawberry.field(
        description="A person provisioned through SCIM is invited (and emailed) as well; "
        "otherwise their record is added without a login."
    )


@strawberry.type(description="A tenant: an organisation with its staff, fields and plan.")
class Account(Node):
    _row: strawberry.Private[AccountRow]

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Account", self._row.id))

    @strawberry.field(description="Display name.")
    def name(self) -> str:
        return self._row.name

    @strawberry.field(description="Slug, usable as X-Auth-Realm.")
    def slug(self) -> str:
        return self._row.slug

    @strawberry.field(description="Numeric id, also usable as X-Auth-Realm.")
    def realm_id(self) -> int:
        return self._row.id

    @strawberry.field(description="Plan name.")
    def plan(self) -> str:
        return self._row.plan

    @strawberry.field(description="Settings.")
    def settings(self) -> AccountSettings:
        return AccountSettings(
            everyone_can_invite=self._row.everyone_can_invite,
            invitation_expiry_days=self._row.invitation_expiry_days,
            join_link_role=Role(self._row.join_link_role),
            join_link_expiry_days=self._row.join_link_expiry_days,
            join_link_requires_approval=self._row.join_link_requires_approval,
            timezone=self._row.timezone,
            guests_take_seats=self._row.guests_take_seats,
            self_signup=self._row.self_signup,
            scim_invites=self._row.scim_invites,
        )

    @strawberry.field(description="Seat usage (not shown to guests).")
    async def seats(self, info: Info) -> Seats:
        return await account_seats(info.context, self)

    @strawberry.field(description="When the account was created.")
    def created_at(self) -> datetime:
        return self._row.created_at


async def account_seats(ctx, account: Account) -> Seats:
    """``Account.seats``, as a function of the request's context and the account (the
    resolver's body, which the compiled plans call too)."""
    async with ctx.as_actor() as (session, actor):
        ledger = await accounts.seat_ledger(session, actor, account._row)
    return Seats(
        limit=ledger.limit,
        used=ledger.used,
        reserved=ledger.reserved,
        available=ledger.available,
        guests=ledger.guests,
        guests_reserved=ledger.guests_reserved,
        guests_take_seats=ledger.guests_take_seats,
    )


@strawberry.type(description="An account the user belongs to, with their role in it.")
class MemberAccount:
    id: strawberry.ID = strawberry.field(description="Global id of the account.")
    realm_id: int = strawberry.field(description="Numeric id (X-Auth-Realm).")
    slug: str = strawberry.field(description="Slug (X-Auth-Realm).")
    name: str = strawberry.field(description="Display name.")
    role: Role = strawberry.field(description="The user's role there.")

    @classmethod
    def of(cls, membership) -> MemberAccount:
        a = membership.account
        return cls(
            id=strawberry.ID(encode_id("Account", a.id)),
            realm_id=a.id,
            slug=a.slug,
            name=a.name,
            role=membership.staff.role,
        )


@strawberry.type(description="A login identity.")
class User(Node):
    _row: strawberry.Private[UserRow]
    _email_shown: strawberry.Private[bool] = True

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("User", self._row.id))

    @strawberry.field(
        description="Login email (normalised); null for an API key without the "
        "personal_data scope."
    )
    def email(self) -> str | None:
        return self._row.email if self._email_shown else None

    @strawberry.field(description="Given name.")
    def first_name(self) -> str | None:
        return self._row.first_name

    @strawberry.field(description="Family name.")
    def last_name(self) -> str | None:
        return self._row.last_name

    @strawberry.field(description="Whether the email address is verified.")
    def email_verified(self) -> bool:
        return self._row.email_verified_at is not None


@strawberry.type(description="An API token for integrations (the secret is shown only once).")
class ApiToken(Node):
    _row: strawberry.Private[AuthTokenRow]
    _creator: strawberry.Private[Staff | None] = None

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("ApiToken", self._row.id))

    @strawberry.field(description="Label.")
    def name(self) -> str | None:
        return self._row.name

    @strawberry.field(description="Created at.")
    def created_at(self) -> datetime:
        return self._row.created_at

    @strawberry.field(description="Expires at.")
    def expires_at(self) -> datetime:
        return self._row.expires_at

    @strawberry.field(description="Revoked at, if revoked.")
    def revoked_at(self) -> datetime | None:
        return self._row.revoked_at

    @strawberry.field(
        description="Last used at (recorded at most once a minute), null if never used."
    )
    def last_used_at(self) -> datetime | None:
        return self._row.last_used_at

    @strawberry.field(description="What the key may do, within its creator's current role.")
    def scopes(self) -> list[ApiScope]:
        named = parse_scopes(self._row.scopes) or frozenset()
        return [scope for scope in ApiScope if scope in named]

    @strawberry.field(
        description="Who created it (in the account's list of keys; null elsewhere, when "
        "the creator's record is gone, and when the reader does not see it)."
    )
    def creator(self) -> Staff | None:
        return self._creator


@strawberry.type(description="A role and what it means.")
class RoleInfo:
    value: Role = strawberry.field(description="The role.")
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="What holders may do.")
    permits: list[Permit] = strawberry.field(description="Permits the role carries.")
