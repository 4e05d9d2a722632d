"""The Staff type. Hidden fields resolve to null without an error; the viewerCan* flags
let a client tell "hidden" from "empty". Access is decided once per object from the
actor's permits (set lookups), never by per-field queries."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from app.access import Actor, Permit
from app.access import Role as DomainRole
from app.graphql import loaders
from app.graphql.enums import AccountStatus, Role, StaffKind
from app.graphql.enums import Permit as PermitEnum
from app.graphql.ids import encode_id
from app.graphql.types.common import Node, PageInfo
from app.graphql.types.custom_fields import CustomField, CustomFieldValue
from app.staff import access
from app.staff.models import Staff as StaffRow
from app.staff.service import read_secret

if TYPE_CHECKING:
    from app.graphql.types.projects import ProjectTeamRole, StaffProject


@strawberry.type(description="A postal address (personal data).")
class Address:
    street: str | None = strawberry.field(description="Street address, may be multi-line.")
    city: str | None = strawberry.field(description="City.")
    state: str | None = strawberry.field(description="State, province or county.")
    zip: str | None = strawberry.field(description="Postal code.")
    country: str | None = strawberry.field(description="Country.")


@strawberry.type(description="An account-defined staff status (e.g. on leave, terminated).")
class StaffStatus(Node):
    _row: strawberry.Private[object]

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("StaffStatus", self._row.id))

    @strawberry.field(description="Name of the status.")
    def name(self) -> str:
        return self._row.name

    @strawberry.field(description="Archived statuses cannot be given to anyone new.")
    def archived(self) -> bool:
        return self._row.archived


@strawberry.type(description="A person in the account: membership and HR record.")
class Staff(Node):
    _row: strawberry.Private[StaffRow]
    _actor: strawberry.Private[Actor]
    _details: strawberry.Private[bool]
    _personal: strawberry.Private[bool]

    @classmethod
    def build(cls, row: StaffRow, actor: Actor) -> Staff:
        details = access.can_see_details(actor, row.id, row.restricted)
        return cls(
            _row=row,
            _actor=actor,
            _details=details,
            _personal=access.can_see_personal(actor, row.id),
        )

    def _detail(self, value):
        return value if self._details else None

    def _private(self, value):
        return value if self._personal else None

    # --- basic profile ---------------------------------------------------------------

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Staff", self._row.id))

    @strawberry.field(description="Number of the record within its account.")
    def sid(self) -> int:
        return self._row.sid

    @strawberry.field(description="Given name.")
    def first_name(self) -> str:
        return self._row.first_name

    @strawberry.field(description="Family name.")
    def last_name(self) -> str:
        return self._row.last_name

    @strawberry.field(description="First and last name.")
    def full_name(self) -> str:
        return f"{self._row.first_name} {self._row.last_name}"

    @strawberry.field(description="Business title or position.")
    def title(self) -> str | None:
        return self._row.title

    @strawberry.field(description="Company the person belongs to (for contractors, vendors).")
    def company(self) -> str | None:
        return self._row.company

    @strawberry.field(description="Free-form notes.")
    def notes(self) -> str | None:
        return self._row.notes

    @strawberry.field(description="Inactive staff are hidden from the list unless asked for.")
    def is_inactive(self) -> bool:
        return self._row.is_inactive

    @strawberry.field(description="Details visible only to administrators and those shared with.")
    def restricted(self) -> bool:
        return self._row.restricted

    @strawberry.field(description="Access role in the account.")
    def role(self) -> Role:
        return self._row.role

    @strawberry.field(description="Employee, contractor, customer or vendor.")
    def kind(self) -> StaffKind:
        return self._row.kind

    @strawberry.field(description="Invitation and login state in this account.")
    def account_status(self) -> AccountStatus:
        return self._row.account_status

    @strawberry.field(description="Whether a user login is attached to this record.")
    def has_login(self) -> bool:
        return self._row.user_id is not None

    @strawberry.field(description="When the record was created (UTC).")
    def created_at(self) -> datetime:
        return self._row.created_at

    @strawberry.field(description="When the record last changed (UTC).")
    def modified_at(self) -> datetime:
        return self._row.modified_at

    @strawberry.field(description="The person's manager, in the same account.")
    async def manager(self, info: Info) -> Staff | None:
        if self._row.manager_id is None:
            return None
        row = await loaders.staff_by_id(info.context, self._actor.account_id).load(
            self._row.manager_id
        )
        return Staff.build(row, self._actor) if row is not None else None

    @strawberry.field(description="Default role on projects (a project team role).")
    async def default_project_role(
        self, info: Info
    ) -> Annotated[ProjectTeamRole, strawberry.lazy("app.graphql.types.projects")] | None:
        from app.graphql.types.projects import ProjectTeamRole

        if self._row.default_project_role_id is None:
            return None
        roles = await loaders.team_roles(info.context, self._actor.account_id)
        found = roles.get(self._row.default_project_role_id)
        return ProjectTeamRole(_row=found) if found else None

    @strawberry.field(description="Projects this person is on, with their team role.")
    async def projects(
        self, info: Info
    ) -> list[Annotated[StaffProject, strawberry.lazy("app.graphql.types.projects")]]:
        from app.graphql.types.projects import Project, StaffProject

        rows = await loaders.staff_projects(info.context, self._actor.account_id).load(self._row.id)
        return [
            StaffProject(
                project=Project(_row=project, _actor=self._actor),
                _team_role_id=member.team_role_id,
                _account_id=self._actor.account_id,
            )
            for member, project in rows
        ]

    # --- what the viewer may do --------------------------------------------------------

    @strawberry.field(description="The viewer sees this record's detailed fields.")
    def viewer_can_see_details(self) -> bool:
        return self._details

    @strawberry.field(
        description="The viewer sees this record's personal data; false means "
        "personal fields are hidden (null), not empty."
    )
    def viewer_can_see_personal_data(self) -> bool:
        return self._personal

    @strawberry.field(description="The viewer may edit this record's basic and detailed fields.")
    def viewer_can_edit(self) -> bool:
        return access.can_edit(self._actor, self._row.id, self._row.restricted)

    @strawberry.field(description="The viewer may disable or delete this staff member.")
    def viewer_can_delete(self) -> bool:
        return access.can_manage(self._actor, self._row.id, DomainRole(self._row.role))

    # --- personal data -----------------------------------------------------------------

    @strawberry.field(description="Primary email (personal data).")
    def email(self) -> str | None:
        return self._private(self._row.email)

    @strawberry.field(description="Cell phone (personal data).")
    def phone_cell(self) -> str | None:
        return self._private(self._row.phone_cell)

    @strawberry.field(description="Work phone (personal data).")
    def phone_work(self) -> str | None:
        return self._private(self._row.phone_work)

    @strawberry.field(description="Home phone (personal data).")
    def phone_home(self) -> str | None:
        return self._private(self._row.phone_home)

    @strawberry.field(description="Postal address (personal data).")
    def address(self) -> Address | None:
        if not self._personal:
            return None
        r = self._row
        return Address(
            street=r.address_street,
            city=r.address_city,
            state=r.address_state,
            zip=r.address_zip,
            country=r.address_country,
        )

    @strawberry.field(description="Social security number (personal data, encrypted at rest).")
    def ssn(self, info: Info) -> str | None:
        if not (self._personal and self._details):
            return None
        return read_secret(info.context.settings.keyring, self._row, "ssn")

    @strawberry.field(description="Salary (personal data, encrypted at rest).")
    def salary(self, info: Info) -> float | None:
        if not (self._personal and self._details):
            return None
        value = read_secret(info.context.settings.keyring, self._row, "salary")
        return float(value) if value is not None else None

    # --- detailed fields ---------------------------------------------------------------

    @strawberry.field(description="Account-defined status (detailed).")
    async def status(self, info: Info) -> StaffStatus | None:
        if not self._details or self._row.status_id is None:
            return None
        found = (await loaders.statuses(info.context, self._actor.account_id)).get(
            self._row.status_id
        )
        return StaffStatus(_row=found) if found else None

    @strawberry.field(description="Start date (detailed).")
    def start_date(self) -> date | None:
        return self._detail(self._row.start_date)

    @strawberry.field(description="Termination date, not before the start date (detailed).")
    def term_date(self) -> date | None:
        return self._detail(self._row.term_date)

    @strawberry.field(description="Available hours in a typical month (detailed).")
    def capacity(self) -> float | None:
        return self._detail(self._row.capacity)

    @strawberry.field(description="Cost factor (detailed).")
    def cost_factor(self) -> float | None:
        return self._detail(self._row.cost_factor)

    @strawberry.field(description="Hour rate type (detailed).")
    def hour_rate_type(self) -> int | None:
        return self._detail(self._row.hour_rate_type)

    @strawberry.field(description="Billing rate 1 (detailed).")
    def rate1(self) -> float | None:
        return self._detail(self._row.rate1)

    @strawberry.field(description="Billing rate 2 (detailed).")
    def rate2(self) -> float | None:
        return self._detail(self._row.rate2)

    @strawberry.field(description="Billing rate 3 (detailed).")
    def rate3(self) -> float | None:
        return self._detail(self._row.rate3)

    @strawberry.field(description="Billing rate 4 (detailed).")
    def rate4(self) -> float | None:
        return self._detail(self._row.rate4)

    @strawberry.field(description="Billing rate 5 (detailed).")
    def rate5(self) -> float | None:
        return self._detail(self._row.rate5)

    @strawberry.field(description="Home time zone, an IANA name (detailed).")
    def home_timezone(self) -> str | None:
        return self._detail(self._row.home_timezone)

    @strawberry.field(
        description="Custom field values (detailed; personal fields need the "
        "ViewPersonalData permit). Null when details are hidden."
    )
    async def custom_fields(self, info: Info) -> list[CustomFieldValue] | None:
        if not self._details:
            return None
        values = await loaders.custom_values(info.context, self._actor.account_id).load(
            self._row.id
        )
        return [
            CustomFieldValue(field=CustomField(_row=v.field), value=v.value)
            for v in values
            if not v.field.personal or self._personal
        ]

    # --- administration ----------------------------------------------------------------

    @strawberry.field(
        description="Permits this member holds (role and grants); administrators "
        "and the member themselves only."
    )
    async def permits(self, info: Info) -> list[PermitEnum] | None:
        if not (self._actor.can(Permit.MANAGE_STAFF) or self._row.id == self._actor.staff_id):
            return None
        from app.access import ROLE_PERMITS

        granted = await loaders.granted_permits(info.context).load(self._row.id)
        return sorted(ROLE_PERMITS[DomainRole(self._row.role)] | granted)

    @strawberry.field(description="Members a restricted record is shared with (administrators).")
    async def shared_with(self, info: Info) -> list[Staff] | None:
        if not self._actor.can(Permit.EDIT_RESTRICTED_STAFF):
            return None
        ids = await loaders.shared_with(info.context, self._actor).load(self._row.id)
        rows = await loaders.staff_by_id(info.context, self._actor.account_id).load_many(ids)
        return [Staff.build(r, self._actor) for r in rows if r is not None]


@strawberry.type(description="An edge in the staff connection.")
class StaffEdge:
    cursor: str = strawberry.field(description="Opaque keyset cursor.")
    node: Staff = strawberry.field(description="The staff member.")


@strawberry.type(description="A page of the staff directory.")
class StaffConnection:
    edges: list[StaffEdge] = strawberry.field(description="This page.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")
    _count: strawberry.Private[object]

    @strawberry.field(description="Staff matching the search and filter, across all pages.")
    async def total_count(self) -> int:
        return await self._count()

    @strawberry.field(description="The nodes of this page, without edges.")
    def nodes(self) -> list[Staff]:
        return [e.node for e in self.edges]
