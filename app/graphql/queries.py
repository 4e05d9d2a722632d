from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from app.access import Role as DomainRole
from app.access import role_permits
from app.access.roles import ROLE_DESCRIPTIONS
from app.access.scopes import sees_own_personal_data
from app.accounts import service as accounts_service
from app.custom_fields import service as custom_fields
from app.errors import AccessDenied, DomainError, RateLimited
from app.graphql import loaders
from app.graphql.enums import (
    AccountStatus,
    InvitationStatus,
    JoinRequestStatus,
    Permit,
    Role,
    SortDirection,
    StaffKind,
    StaffSortKey,
)
from app.graphql.errors import bad_input, rate_limited
from app.graphql.ids import decode_any, decode_id
from app.graphql.types.account import Account, ApiToken, MemberAccount, RoleInfo, User
from app.graphql.types.audit import AuditEntryConnection, AuditLogFilter, audit_page
from app.graphql.types.common import Node
from app.graphql.types.custom_fields import CustomField
from app.graphql.types.invitations import (
    Invitation,
    InvitationConnection,
    InvitationPreview,
    JoinLink,
    JoinRequest,
    invitation_page,
)
from app.graphql.types.projects import Project, ProjectTeamRole
from app.graphql.types.staff import Staff, StaffConnection, StaffStatus, directory_page
from app.graphql.types.webhooks import WebhookDelivery, WebhookEndpoint
from app.identity import service as identity
from app.identity import viewer as viewer_service
from app.identity.viewer import ViewerState
from app.invitations import join_links as join_links_service
from app.invitations import service as invitations_service
from app.projects import service as projects_service
from app.staff import service as staff_service
from app.staff.queries import MAX_SIDS, StaffFilter, StaffQuery, clean_search
from app.webhooks import service as webhooks_service

if TYPE_CHECKING:
    from app.graphql.context import Context


@strawberry.input(description="Narrow the staff directory.")
class StaffFilterInput:
    roles: list[Role] | None = strawberry.field(default=None, description="Any of these roles.")
    kinds: list[StaffKind] | None = strawberry.field(
        default=None, description="Any of these kinds."
    )
    account_statuses: list[AccountStatus] | None = strawberry.field(
        default=None, description="Any of these statuses (overrides includeDisabled)."
    )
    company: str | None = strawberry.field(default=None, description="Company, any case.")
    manager_id: strawberry.ID | None = strawberry.field(
        default=None, description="Direct reports of this manager."
    )
    reports_to: strawberry.ID | None = strawberry.field(
        default=None,
        description="The people who report to this record: its direct reports, or with "
        "transitive everyone below it. An id not in the account matches no one.",
    )
    transitive: bool = strawberry.field(
        default=False,
        description="With reportsTo: everyone below the record (their reports, and theirs), "
        "not only its direct reports.",
    )
    sids: list[int] | None = strawberry.field(
        default=None,
        description=f"Only the records with these sids (at most {MAX_SIDS}; an empty list "
        "matches none).",
    )
    include_disabled: bool = strawberry.field(default=False, description="Show disabled staff.")
    include_inactive: bool = strawberry.field(default=False, description="Show inactive staff.")


def staff_filter(f: StaffFilterInput | None) -> StaffFilter:
    """The directory filter an input asks for (the resolver's and the hot plan's)."""
    f = f or StaffFilterInput()
    return StaffFilter(
        roles=f.roles,
        kinds=f.kinds,
        account_statuses=f.account_statuses,
        company=f.company,
        manager_id=decode_id(f.manager_id, "Staff"),
        sids=f.sids,
        reports_to=decode_id(f.reports_to, "Staff"),
        transitive=f.transitive,
        include_disabled=f.include_disabled,
        include_inactive=f.include_inactive,
    )


@strawberry.input(description="Ordering of the staff directory.")
class StaffSortInput:
    key: StaffSortKey = strawberry.field(
        default=StaffSortKey.LAST_NAME,
        description="Sort key (EMAIL needs the ViewPersonalData permit; ROLE is owner, "
        "administrators, editors, viewers, guests, each by last name; DESC reverses it).",
    )
    direction: SortDirection = strawberry.field(default=SortDirection.ASC, description="Order.")


@strawberry.type(description="The authenticated user and where they stand.")
class Viewer:
    user: User = strawberry.field(description="The user.")
    accounts: list[MemberAccount] = strawberry.field(description="Accounts and roles.")
    account: Account | None = strawberry.field(description="The current account, if chosen.")
    role: Role | None = strawberry.field(description="Role in the current account.")
    permits: list[Permit] = strawberry.field(description="Permits in the current account.")
    _seen: strawberry.Private[ViewerState]

    @strawberry.field(description="Own staff record in the current account.")
    async def staff(self, info: Info) -> Staff | None:
        async with info.context.db() as session:
            row = await viewer_service.own_staff(session, self._seen)
        actor = self._seen.actor
        return Staff.build(row, actor) if row is not None and actor is not None else None

    @strawberry.field(description="Live API tokens for this account.")
    async def api_tokens(self, info: Info) -> list[ApiToken]:
        async with info.context.db() as session:
            tokens = await viewer_service.own_api_tokens(session, self._seen)
        return [ApiToken(_row=t) for t in tokens]

    @strawberry.field(description="The administrator acting as this user, when impersonating.")
    async def impersonator(self, info: Info) -> User | None:
        async with info.context.db() as session:
            row = await viewer_service.impersonator(session, self._seen)
        return User(_row=row) if row is not None else None


@strawberry.type(description="A custom field value with the staff member it belongs to.")
class StaffCustomFieldValue:
    staff: Staff = strawberry.field(description="The staff member.")
    field: CustomField = strawberry.field(description="The field.")
    value: str = strawberry.field(description="Canonical text value.")


@strawberry.type(description="Values to choose from.")
class Picklists:
    roles: list[RoleInfo] = strawberry.field(description="Roles, with what each may do.")
    staff_statuses: list[StaffStatus] = strawberry.field(description="Account-defined statuses.")
    time_zones: list[str] = strawberry.field(description="IANA time zone names.")
    staff_kinds: list[StaffKind] = strawberry.field(description="Kinds of people.")

    @strawberry.field(description="Account-defined project team roles.")
    async def project_team_roles(self, info: Info) -> list[ProjectTeamRole]:
        return await picklist_team_roles(info.context, self)


async def picklist_team_roles(ctx: Context, picklists: Picklists) -> list[ProjectTeamRole]:
    """``Picklists.projectTeamRoles``, read only when selected (the resolver's body, which
    the compiled plans call too)."""
    async with ctx.as_actor() as (session, actor):
        rows = await projects_service.team_roles(session, actor.account_id)
    return [ProjectTeamRole(_row=r) for r in rows]


NODE_TYPES = {
    "Staff",
    "Account",
    "CustomField",
    "StaffStatus",
    "User",
    "Invitation",
    "Project",
    "ApiToken",
    "ProjectTeamRole",
    "WebhookEndpoint",
    "WebhookDelivery",
}


def node_key(global_id: str) -> tuple[str, int] | None:
    """The type and primary key ``node`` looks up for a global id; None for an id that
    is malformed or of a type ``node`` does not find (both are null)."""
    decoded = decode_any(global_id)
    if decoded is None or decoded[0] not in NODE_TYPES:
        return None
    return decoded


async def _account_node(session, actor, type_name: str, pk: int):
    """Invitation, Project, ProjectTeamRole, webhook and ApiToken nodes, found as each
    domain lets the actor look them up (within the actor's account; invitations to those
    who may see them, webhooks to administrators, tokens to their owner)."""
    if type_name in ("WebhookEndpoint", "WebhookDelivery"):
        return await _webhook_node(session, actor, type_name, pk)
    if type_name == "ProjectTeamRole":
        # any member of the account reads its team roles (``picklists``)
        role = await projects_service.find_team_role(session, actor.account_id, pk)
        return ProjectTeamRole(_row=role) if role else None
    if type_name == "Invitation":
        invitation = await invitations_service.find_invitation(session, actor, pk)
        return Invitation(_row=invitation, _actor=actor) if invitation else None
    if type_name == "Project":
        project = await projects_service.find_project(session, actor, pk)
        return Project(_row=project, _actor=actor) if project else None
    token = await identity.find_api_token(session, actor, pk)
    return ApiToken(_row=token) if token else None


async def _webhook_node(session, actor, type_name: str, pk: int):
    """A webhook endpoint or delivery, found by the getter its mutations use: null (as for
    a missing id) for another account's, or for an actor who may not read webhooks."""
    try:
        if type_name == "WebhookEndpoint":
            return WebhookEndpoint(_row=await webhooks_service.get_endpoint(session, actor, pk))
        delivery = await webhooks_service.get_delivery(session, actor, pk)
    except (DomainError, AccessDenied):
        return None
    attempts = await webhooks_service.attempts_of(session, actor.account_id, [delivery.id])
    shown = await webhooks_service.shown_payloads(session, actor, [delivery])
    return WebhookDelivery(
        _row=delivery,
        _attempts=attempts[delivery.id],
        _payload=shown[delivery.id],
        _excerpts_shown=webhooks_service.excerpts_shown(actor, delivery, shown[delivery.id]),
    )


# The bodies of root resolvers that take no more than the request's context and their
# arguments, as functions of those: the resolvers call them, and so do the compiled plans
# (``app.graphql.hot.RESOLVED_ROOTS``), so both answer from one code path.


async def viewer_of(ctx: Context) -> Viewer:
    async with ctx.as_principal() as (session, principal):
        _, actor, _ = await ctx._authenticate()
        seen = await viewer_service.viewer_state(session, principal, actor)
    return Viewer(
        user=User(_row=seen.user, _email_shown=seen.email_shown),
        accounts=[MemberAccount.of(m) for m in seen.memberships],
        account=Account(_row=seen.account) if seen.account is not None else None,
        role=actor.role if actor else None,
        permits=sorted(actor.permits) if actor else [],
        _seen=seen,
    )


async def account_of(ctx: Context) -> Account:
    async with ctx.as_actor() as (session, actor):
        return Account(_row=await accounts_service.get_account(session, actor))


async def custom_field_list(ctx: Context, include_archived: bool = False) -> list[CustomField]:
    async with ctx.as_actor() as (session, actor):
        rows = await custom_fields.list_fields(session, actor, include_archived=include_archived)
    return [CustomField(_row=r) for r in rows]


async def custom_field_values_of(
    ctx: Context, names: list[str] | None = None, *, build=Staff.build
) -> list[StaffCustomFieldValue]:
    """``build`` makes each value's record (the plan's are SeenStaff)."""
    async with ctx.as_actor() as (session, actor):
        try:
            values = await custom_fields.values_by_names(session, actor, names)
        except DomainError as exc:
            raise bad_input(exc.message) from None
    staff_rows = await loaders.staff_by_id(ctx, actor).load_many(
        list(dict.fromkeys(v.staff_id for v in values))
    )
    by_id = {r.id: r for r in staff_rows if r is not None}
    return [
        StaffCustomFieldValue(
            staff=build(by_id[v.staff_id], actor),
            field=CustomField(_row=v.field),
            value=v.value,
        )
        for v in values
        # a record deleted between the two reads (each statement sees what has committed
        # by then, on PostgreSQL) is gone with its values, as the REST API's list has it
        if v.staff_id in by_id
    ]


async def picklists_of(ctx: Context) -> Picklists:
    async with ctx.as_actor() as (session, actor):
        statuses = await staff_service.list_statuses(session, actor.account_id)
    return Picklists(
        roles=[
            RoleInfo(
                value=r,
                name=r.value.title(),
                description=ROLE_DESCRIPTIONS[r],
                permits=role_permits(r),
            )
            for r in DomainRole
        ],
        staff_statuses=[StaffStatus(_row=s) for s in statuses],
        time_zones=list(staff_service.sorted_time_zones()),
        staff_kinds=list(StaffKind),
    )


@strawberry.type
class Query:
    @strawberry.field(description="The authenticated user, their accounts, role and permits.")
    async def viewer(self, info: Info) -> Viewer:
        return await viewer_of(info.context)

    @strawberry.field(
        description="Every live API token of the account, with its creator and scopes "
        "(administrators)."
    )
    async def api_tokens(self, info: Info) -> list[ApiToken]:
        async with info.context.as_actor() as (session, actor):
            found = await identity.list_account_api_tokens(session, actor)
        return [
            ApiToken(_row=token, _creator=Staff.build(staff, actor) if staff else None)
            for token, staff in found
        ]

    @strawberry.field(description="The current account.")
    async def account(self, info: Info) -> Account:
        return await account_of(info.context)

    @strawberry.field(description="The staff directory: keyset-paginated, searchable, sortable.")
    async def staff(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="Page size, 0 to 100.")] = 50,
        after: Annotated[
            str | None, strawberry.argument(description="endCursor of the previous page.")
        ] = None,
        search: Annotated[
            str | None,
            strawberry.argument(
                description="Words matched in names, title, company (and email with the "
                "permit); a word that is a role's name (e.g. editor) also finds that role."
            ),
        ] = None,
        sort: Annotated[StaffSortInput | None, strawberry.argument(description="Order.")] = None,
        filter: Annotated[
            StaffFilterInput | None, strawberry.argument(description="Filters.")
        ] = None,
    ) -> StaffConnection:
        s = sort or StaffSortInput()
        query = StaffQuery(
            first=first,
            after=after,
            search=clean_search(search),
            sort=s.key,
            direction=s.direction,
            filter=staff_filter(filter),
        )
        async with info.context.as_actor() as (session, actor):
            return await directory_page(info.context, session, actor, query)

    @strawberry.field(
        description="A staff record of the current account by its sid (the number "
        "integrations address it by); null when the account has no such record."
    )
    async def staff_by_sid(self, info: Info, sid: int) -> Staff | None:
        async with info.context.as_actor() as (session, actor):
            # found as ``node`` finds a Staff, and as the compiled plan (app.graphql.hot)
            # finds it; its manager, read with it, is primed for ``manager``
            record = await staff_service.get_by_sid(session, actor, sid)
            loaders.staff_by_id(info.context, actor).prime_many(record.managers)
        return Staff.build(record.row, actor) if record.row else None

    @strawberry.field(description="Fetch any object of the current account by global id.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        decoded = node_key(id)
        if decoded is None:
            return None
        type_name, pk = decoded
        async with info.context.as_actor() as (session, actor):
            if type_name == "Staff":
                # found as the compiled plan (app.graphql.hot) finds it; its manager,
                # read with it, is primed for ``manager``
                record = await staff_service.get_one(session, actor, pk)
                loaders.staff_by_id(info.context, actor).prime_many(record.managers)
                return Staff.build(record.row, actor) if record.row else None
            if type_name == "Account":
                account = await accounts_service.find_account(session, actor, pk)
                return Account(_row=account) if account else None
            if type_name == "CustomField":
                try:
                    return CustomField(_row=await custom_fields.get_field(session, actor, pk))
                except DomainError:
                    return None
            if type_name == "StaffStatus":
                found = (await staff_service.statuses_by_id(session, actor.account_id)).get(pk)
                return StaffStatus(_row=found) if found else None
            if type_name == "User":
                user = await identity.find_user(session, actor, pk)
                shown = sees_own_personal_data(actor)
                return User(_row=user, _email_shown=shown) if user else None
            return await _account_node(session, actor, type_name, pk)
        return None

    @strawberry.field(description="Custom field definitions of the account.")
    async def custom_fields(self, info: Info, include_archived: bool = False) -> list[CustomField]:
        return await custom_field_list(info.context, include_archived)

    @strawberry.field(
        description="Values of the named custom fields across the account's staff "
        "(all fields when no names); only values the viewer may see."
    )
    async def custom_field_values(
        self, info: Info, names: list[str] | None = None
    ) -> list[StaffCustomFieldValue]:
        return await custom_field_values_of(info.context, names)

    @strawberry.field(
        description="Invitations, newest first (for those who may invite; inviters who do "
        "not administer see only those they sent)."
    )
    async def invitations(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="Page size, 0 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="endCursor.")] = None,
        status: Annotated[
            InvitationStatus | None, strawberry.argument(description="Only this status.")
        ] = None,
        staff_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only invitations for this staff record."),
        ] = None,
        email: Annotated[
            str | None,
            strawberry.argument(
                description="Only invitations to this email, any case (needs the "
                "ViewPersonalData permit)."
            ),
        ] = None,
    ) -> InvitationConnection:
        return await invitation_page(
            info.context, first, after, status=status, staff_id=staff_id, email=email
        )

    @strawberry.field(
        description="What an invitation link offers (public): account, inviter, "
        "role, status and expiry; null for an unknown token."
    )
    async def invitation_preview(self, info: Info, token: str) -> InvitationPreview | None:
        ctx = info.context
        try:  # the check is counted and kept: a query's own session is never committed
            async with ctx.services.db.session(write=True) as session:
                found = await invitations_service.preview(session, ctx.token_gate(), token)
                await session.commit()
        except RateLimited as exc:
            raise rate_limited(exc) from None
        if found is None:
            return None
        return InvitationPreview(
            account_name=found.account_name,
            inviter_name=found.inviter_name,
            role=found.role,
            status=found.status,
            expires_at=found.expires_at,
        )

    @strawberry.field(description="The account's join links (administrators).")
    async def join_links(self, info: Info) -> list[JoinLink]:
        async with info.context.as_actor() as (session, actor):
            rows = await join_links_service.list_links(session, actor)
        return [JoinLink(_row=r) for r in rows]

    @strawberry.field(description="Join requests waiting for (or past) a decision.")
    async def join_requests(
        self, info: Info, status: JoinRequestStatus | None = None
    ) -> list[JoinRequest]:
        async with info.context.as_actor() as (session, actor):
            rows = await join_links_service.list_requests(session, actor, status)
        return [JoinRequest(_row=r, _email=email) for r, email in rows]

    @strawberry.field(description="The account's audit log, newest first (administrators).")
    async def audit_log(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="Page size, 0 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="endCursor.")] = None,
        filter: Annotated[
            AuditLogFilter | None, strawberry.argument(description="Filters.")
        ] = None,
    ) -> AuditEntryConnection:
        return await audit_page(info.context, first, after, filter)

    @strawberry.field(description="The account's projects.")
    async def projects(self, info: Info) -> list[Project]:
        async with info.context.as_actor() as (session, actor):
            rows = await projects_service.list_projects(session, actor)
        return [Project(_row=r, _actor=actor) for r in rows]

    @strawberry.field(description="Roles (with descriptions), staff statuses, time zones, kinds.")
    async def picklists(self, info: Info) -> Picklists:
        return await picklists_of(info.context)
