"""The Staff type. Hidden fields resolve to null without an error; the viewerCan* flags
let a client tell "hidden" from "empty". Access is decided once per object from the
actor's permits (set lookups), never by per-field queries."""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info
from strawberry.utils.str_converters import to_snake_case

from app import fields as field_tables
from app.access import Actor, role_permits
from app.access import Role as DomainRole
from app.custom_fields.service import shown_values
from app.errors import DomainError
from app.events.visibility import sees_link
from app.graphql import loaders
from app.graphql.enums import AccountStatus, Role, StaffKind
from app.graphql.enums import Permit as PermitEnum
from app.graphql.errors import bad_input
from app.graphql.ids import encode_id
from app.graphql.types.common import Node, PageInfo, page_info
from app.graphql.types.custom_fields import CustomField, CustomFieldValue
from app.staff import access, stamps
from app.staff import service as staff_service
from app.staff.access import Shown
from app.staff.fields import STAFF
from app.staff.models import Staff as StaffRow
from app.staff.models import StaffStatus as StaffStatusRow
from app.staff.queries import ALL_COLUMNS, PageColumns, StaffFilter, StaffQuery
from app.staff.service import StaffPage, read_secret
from app.validation import full_name

if TYPE_CHECKING:
    from app.graphql.types.invitations import Invitation
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
    _row: strawberry.Private[StaffStatusRow]

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("StaffStatus", self._row.id))

    @strawberry.field(description="Name of the status.")
    def name(self) -> str:
        return self._row.name

    @strawberry.field(description="Archived statuses cannot be given to anyone new.")
    def archived(self) -> bool:
        return self._row.archived


# The record's columns Staff shows as they are (each is the Staff field of the same name),
# and who sees each: the staff field table's rows (``app.staff.fields.STAFF``) that Staff
# shows as stored. Staff.build and the hot plan (app.graphql.hot) both read them here.
COLUMNS: dict[str, Shown] = {}


class SeenStaff:
    """A staff record as one viewer sees it: the record, the viewer, and whether they see
    its profile, its details and its personal data (each decided by ``app.staff.access``
    when first asked, then kept).

    Staff is built from one. The hot plan completes one directly, reading only the
    fields a document selects; the resolvers it calls (those taking only ``self``, such
    as ``address``) use only these five attributes, so it calls them with a SeenStaff as
    ``self``.
    """

    __slots__ = ("_row", "_actor", "_judged", "_seen_profile", "_seen_details", "_seen_personal")

    def __init__(self, row: StaffRow, actor: Actor):
        self._row = row
        self._actor = actor
        self._judged = False

    def _judge(self) -> None:
        """Decides the three when one is first asked (a page's plan asks them only when
        its fields need them: a page of names never does)."""
        actor, row = self._actor, self._row
        self._seen_profile = access.can_see_profile(actor, row.id)
        self._seen_details = access.can_see_details(actor, row.id, row.restricted)
        self._seen_personal = access.can_see_personal(actor, row.id)
        self._judged = True

    @property
    def _profile(self) -> bool:
        if not self._judged:
            self._judge()
        return self._seen_profile

    @property
    def _details(self) -> bool:
        if not self._judged:
            self._judge()
        return self._seen_details

    @property
    def _personal(self) -> bool:
        if not self._judged:
            self._judge()
        return self._seen_personal


# Staff's data fields computed from a SeenStaff rather than read from a column.
DERIVED: dict[str, Callable[[SeenStaff], object]] = {
    "id": lambda seen: strawberry.ID(encode_id("Staff", seen._row.id)),
    "full_name": lambda seen: full_name(seen._row.first_name, seen._row.last_name),
    "has_login": lambda seen: seen._row.user_id is not None if seen._profile else None,
    "viewer_can_see_details": lambda seen: seen._details,
    "viewer_can_edit": lambda seen: access.can_edit(
        seen._actor, seen._row.id, seen._row.restricted
    ),
    "viewer_can_delete": lambda seen: access.can_manage(
        seen._actor, seen._row.id, DomainRole(seen._row.role)
    ),
    # The record's home time zone, or the account's when it has none: shown exactly
    # where home_timezone is (its row in STAFF).
    "effective_timezone": lambda seen: (
        (seen._row.home_timezone or seen._actor.account_timezone)
        if sees(seen, COLUMNS["home_timezone"])
        else None
    ),
}


# The columns each of Staff's other fields reads (COLUMNS' fields read their own column;
# a page always reads what SeenStaff and cursors need: ``app.staff.queries.ROW_KEYS``).
# The hot plan reads only the columns its document's fields read; a field missing here
# makes it read them all. The table's other fields (address, manager...) read their rows'
# columns; these are the rest.
_COMPUTED_READS: dict[str, tuple[str, ...]] = {
    "id": (),
    "full_name": ("first_name", "last_name"),
    "has_login": ("user_id",),
    "viewer_can_see_details": (),
    "viewer_can_edit": (),
    "viewer_can_delete": ("role",),
    "effective_timezone": ("home_timezone",),
    "viewer_can_see_personal_data": (),
    "custom_fields": (),
    "direct_reports": (),  # the record's id
    "reporting_chain": ("manager_id",),
    "invitation": (),  # by the record's id; shown by the invitations' own rule
}
READS: dict[str, tuple[str, ...]] = {}
# Of the fields with resolvers: whether they are hidden without the profile, without
# details, without personal data (their class in STAFF), as Staff.build hides COLUMNS.
NEEDS: dict[str, tuple[bool, bool, bool]] = {}
_WITH_PROFILE = frozenset(Shown) - {Shown.ALWAYS}
_WITH_DETAILS = frozenset({Shown.WITH_DETAILS, Shown.WITH_DETAILS_AND_PERSONAL_DATA})
_WITH_PERSONAL = frozenset({Shown.WITH_PERSONAL_DATA, Shown.WITH_DETAILS_AND_PERSONAL_DATA})
_COLUMN_NAMES: tuple[str, ...] = ()
_read_columns: Callable = operator.attrgetter("id")  # set from COLUMNS below
_HIDDEN_WITHOUT: dict[Shown, dict[str, None]] = {}


@field_tables.derive
def _from_the_field_table() -> None:
    """COLUMNS, READS and what Staff.build hides, from STAFF (again if a row changes)."""
    global _COLUMN_NAMES, _read_columns, _HIDDEN_WITHOUT
    shown = {row.name: access.shown(row.name) for row in STAFF if row.api is not None}
    COLUMNS.clear()
    COLUMNS.update({row.name: shown[row.name] for row in STAFF if row.as_is})
    READS.clear()
    READS.update(_COMPUTED_READS)
    NEEDS.clear()
    for row in STAFF:
        if row.api is None or row.as_is:
            continue
        name = to_snake_case(row.api)
        # a secret's associated data binds it to the account and the record's sid; a
        # change stamp reads the stamps it is the latest of
        READS[name] = tuple(
            dict.fromkeys(
                (
                    *row.columns,
                    *(("account_id", "sid") if row.encrypted else ()),
                    *(column for stamp in row.latest_of for column in STAFF[stamp].columns),
                )
            )
        )
        NEEDS[name] = (
            shown[row.name] in _WITH_PROFILE,
            shown[row.name] in _WITH_DETAILS,
            shown[row.name] in _WITH_PERSONAL,
        )
    _COLUMN_NAMES = tuple(COLUMNS)
    _read_columns = operator.attrgetter(*_COLUMN_NAMES)
    # The columns a viewer without the profile (details, personal data) sees as null.
    _HIDDEN_WITHOUT = {
        Shown.WITH_PROFILE: dict.fromkeys(n for n, s in COLUMNS.items() if s in _WITH_PROFILE),
        Shown.WITH_DETAILS: dict.fromkeys(n for n, s in COLUMNS.items() if s in _WITH_DETAILS),
        Shown.WITH_PERSONAL_DATA: dict.fromkeys(
            n for n, s in COLUMNS.items() if s in _WITH_PERSONAL
        ),
    }


def sees(seen, shown: Shown) -> bool:
    """Whether the viewer of ``seen`` sees a field shown ``shown`` (a class in STAFF)."""
    return (
        (shown not in _WITH_PROFILE or seen._profile)
        and (shown not in _WITH_DETAILS or seen._details)
        and (shown not in _WITH_PERSONAL or seen._personal)
    )


def hidden(seen, field: str) -> bool:
    """Whether the viewer of ``seen`` (a Staff or a SeenStaff) sees ``field`` as null."""
    profile, details, personal = NEEDS[field]
    return (
        (profile and not seen._profile)
        or (details and not seen._details)
        or (personal and not seen._personal)
    )


def custom_values_seen(seen, values) -> list | None:
    """Of the record's custom ``values``, those the viewer of ``seen`` (a Staff or a
    SeenStaff) sees: none at all (null) without its details, a personal field's only with
    its personal data (``shown_values``). ``customFields`` answers by it, in the resolver
    and in the compiled plans alike."""
    if not seen._details:
        return None
    return shown_values(values, personal=seen._personal)


_CARD_ONLY = " Null in a guest's view of others (guests see their name card only)."


@strawberry.type(description="A person in the account: membership and HR record.")
class Staff(Node):
    _row: strawberry.Private[StaffRow]
    _actor: strawberry.Private[Actor]
    _profile: strawberry.Private[bool]
    _details: strawberry.Private[bool]
    _personal: strawberry.Private[bool]

    @classmethod
    def build(cls, row: StaffRow, actor: Actor) -> Staff:
        """Scalars are plain data fields (resolved on strawberry's fast path); hidden
        ones are set to None here, once, from the viewer's permits (``COLUMNS``)."""
        seen = SeenStaff(row, actor)
        fields = dict(zip(_COLUMN_NAMES, _read_columns(row), strict=True))
        if not seen._profile:
            fields.update(_HIDDEN_WITHOUT[Shown.WITH_PROFILE])
        if not seen._details:
            fields.update(_HIDDEN_WITHOUT[Shown.WITH_DETAILS])
        if not seen._personal:
            fields.update(_HIDDEN_WITHOUT[Shown.WITH_PERSONAL_DATA])
        for name, derive in DERIVED.items():
            fields[name] = derive(seen)
        return cls(
            _row=row,
            _actor=actor,
            _profile=seen._profile,
            _details=seen._details,
            _personal=seen._personal,
            **fields,
        )

    # --- basic profile ---------------------------------------------------------------

    id: strawberry.ID = strawberry.field(description="Global id.")
    sid: int | None = strawberry.field(
        description="Number of the record within its account (on the name card guests see)."
    )
    first_name: str = strawberry.field(description="Given name; empty when none was given.")
    last_name: str = strawberry.field(description="Family name; empty when none was given.")
    full_name: str = strawberry.field(
        description="First and last name; empty for a record without names."
    )
    title: str | None = strawberry.field(description="Business title or position.")
    company: str | None = strawberry.field(
        description="Company the person belongs to (for contractors, vendors)."
    )
    notes: str | None = strawberry.field(description="Free-form notes.")
    is_inactive: bool | None = strawberry.field(
        description="Inactive staff are hidden from the list unless asked for." + _CARD_ONLY
    )
    restricted: bool | None = strawberry.field(
        description="Details visible only to administrators and those shared with." + _CARD_ONLY
    )
    role: Role | None = strawberry.field(description="Access role in the account." + _CARD_ONLY)
    kind: StaffKind = strawberry.field(description="Employee, contractor, customer or vendor.")
    account_status: AccountStatus | None = strawberry.field(
        description="Invitation and login state in this account." + _CARD_ONLY
    )
    has_login: bool | None = strawberry.field(
        description="Whether a user login is attached to this record." + _CARD_ONLY
    )
    created_at: datetime | None = strawberry.field(
        description="When the record was created (UTC)." + _CARD_ONLY
    )

    @strawberry.field(
        description="When the record last changed (UTC): the latest change to what the "
        "viewer sees of it (a change to personal data or to details they do not see does "
        "not move it)." + _CARD_ONLY
    )
    def modified_at(self) -> datetime | None:
        if hidden(self, "modified_at"):
            return None
        return stamps.latest(self._row, details=self._details, personal=self._personal)

    external_id: str | None = strawberry.field(
        description="The person's id in an identity provider or HR system, unique in the "
        "account (set by administrators)." + _CARD_ONLY
    )

    @strawberry.field(description="The person's manager, in the same account.")
    async def manager(self, info: Info) -> Staff | None:
        if hidden(self, "manager") or self._row.manager_id is None:
            return None
        row = await loaders.staff_by_id(info.context, self._actor).load(self._row.manager_id)
        return self._related(row)

    @strawberry.field(
        description="The people whose manager this record is, as the staff list shows them "
        "to the viewer (not disabled, not inactive), in its default order."
    )
    async def direct_reports(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="Page size, 0 to 100.")] = 50,
        after: Annotated[
            str | None, strawberry.argument(description="endCursor of the previous page.")
        ] = None,
    ) -> StaffConnection:
        return await direct_reports_of(info.context, self, first=first, after=after)

    @strawberry.field(
        description="The managers above this record, from its manager up to the top, each "
        "as the viewer sees it (what following `manager` gives; each record at most once). "
        "Null when the viewer does not see this record's manager."
    )
    async def reporting_chain(self, info: Info) -> list[Staff] | None:
        return await reporting_chain_of(info.context, self)

    def _related(self, row: StaffRow | None) -> Staff | None:
        """Another record (the manager), as this record's viewer sees it."""
        return Staff.build(row, self._actor) if row is not None else None

    @strawberry.field(description="Default role on projects (a project team role).")
    async def default_project_role(
        self, info: Info
    ) -> Annotated[ProjectTeamRole, strawberry.lazy("app.graphql.types.projects")] | None:
        from app.graphql.types.projects import ProjectTeamRole

        if hidden(self, "default_project_role") or self._row.default_project_role_id is None:
            return None
        roles = await loaders.team_roles(info.context, self._actor.account_id)
        found = roles.get(self._row.default_project_role_id)
        return ProjectTeamRole(_row=found) if found else None

    @strawberry.field(
        description="Projects this person is on, with their team role (empty in a guest's "
        "view of others)."
    )
    async def projects(
        self, info: Info
    ) -> list[Annotated[StaffProject, strawberry.lazy("app.graphql.types.projects")]]:
        from app.graphql.types.projects import Project, StaffProject

        if not self._profile:  # not on a guest's name card of others
            return []
        rows = await loaders.staff_projects(info.context, self._actor.account_id).load(self._row.id)
        return [
            StaffProject(
                project=Project(_row=project, _actor=self._actor),
                _team_role_id=member.team_role_id,
                _account_id=self._actor.account_id,
            )
            for member, project in rows
        ]

    @strawberry.field(
        description="The record's latest invitation; null when it has none or the viewer "
        "may not see it (as in the invitations list)."
    )
    async def invitation(
        self, info: Info
    ) -> Annotated[Invitation, strawberry.lazy("app.graphql.types.invitations")] | None:
        return await latest_invitation_of(info.context, self)

    # --- what the viewer may do --------------------------------------------------------

    viewer_can_see_details: bool = strawberry.field(
        description="The viewer sees this record's detailed fields."
    )

    @strawberry.field(
        description="The viewer sees this record's personal data; false means "
        "personal fields are hidden (null), not empty."
    )
    def viewer_can_see_personal_data(self) -> bool:
        return self._personal

    viewer_can_edit: bool = strawberry.field(
        description="The viewer may edit this record's basic and detailed fields."
    )
    viewer_can_delete: bool = strawberry.field(
        description="The viewer may disable or delete this staff member."
    )
    # --- personal data -----------------------------------------------------------------

    email: str | None = strawberry.field(description="Primary email (personal data).")
    phone_cell: str | None = strawberry.field(description="Cell phone (personal data).")
    phone_work: str | None = strawberry.field(description="Work phone (personal data).")
    phone_home: str | None = strawberry.field(description="Home phone (personal data).")

    @strawberry.field(description="Postal address (personal data).")
    def address(self) -> Address | None:
        if hidden(self, "address"):
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
        if hidden(self, "ssn"):
            return None
        return read_secret(info.context.settings.keyring, self._row, "ssn")

    @strawberry.field(description="Salary (personal data, encrypted at rest).")
    def salary(self, info: Info) -> float | None:
        if hidden(self, "salary"):
            return None
        value = read_secret(info.context.settings.keyring, self._row, "salary")
        return float(value) if value is not None else None

    # --- detailed fields ---------------------------------------------------------------

    @strawberry.field(description="Account-defined status (detailed).")
    async def status(self, info: Info) -> StaffStatus | None:
        if hidden(self, "status") or self._row.status_id is None:
            return None
        found = (await loaders.statuses(info.context, self._actor.account_id)).get(
            self._row.status_id
        )
        return StaffStatus(_row=found) if found else None

    start_date: date | None = strawberry.field(description="Start date (detailed).")
    term_date: date | None = strawberry.field(
        description="Termination date, not before the start date (detailed)."
    )
    capacity: float | None = strawberry.field(
        description="Available hours in a typical month (detailed)."
    )
    cost_factor: float | None = strawberry.field(description="Cost factor (detailed).")
    hour_rate_type: int | None = strawberry.field(description="Hour rate type (detailed).")
    rate1: float | None = strawberry.field(description="Billing rate 1 (detailed).")
    rate2: float | None = strawberry.field(description="Billing rate 2 (detailed).")
    rate3: float | None = strawberry.field(description="Billing rate 3 (detailed).")
    rate4: float | None = strawberry.field(description="Billing rate 4 (detailed).")
    rate5: float | None = strawberry.field(description="Billing rate 5 (detailed).")
    home_timezone: str | None = strawberry.field(
        description="Home time zone, an IANA name (detailed); none means the account's."
    )
    use_payroll_item: bool | None = strawberry.field(
        description="Post payroll item data to the accounting system with timesheets "
        "(detailed)."
    )
    staff_org_id: int | None = strawberry.field(
        description="Organisation (department, office) number (detailed)."
    )
    post_time_as_billed: bool | None = strawberry.field(
        description="Time is posted into a vendor bill (detailed)."
    )
    effective_timezone: str | None = strawberry.field(
        description="The time zone the person is in: their home time zone, or the "
        "account's when they have none (detailed, hidden exactly when homeTimezone is)."
    )

    @strawberry.field(
        description="Custom field values (detailed; personal fields need the "
        "ViewPersonalData permit). Null when details are hidden."
    )
    async def custom_fields(self, info: Info) -> list[CustomFieldValue] | None:
        if custom_values_seen(self, ()) is None:
            return None  # read nothing
        values = await loaders.custom_values(info.context, self._actor.account_id).load(
            self._row.id
        )
        shown = custom_values_seen(self, values) or []
        return [CustomFieldValue(field=CustomField(_row=v.field), value=v.value) for v in shown]

    # --- administration ----------------------------------------------------------------

    @strawberry.field(
        description="Permits this member holds (role and grants); administrators "
        "and the member themselves only."
    )
    async def permits(self, info: Info) -> list[PermitEnum] | None:
        if not sees_link(self._actor, self._row.id, self._row.restricted, "permits"):
            return None
        granted = await loaders.granted_permits(info.context).load(self._row.id)
        return role_permits(self._row.role, granted)

    @strawberry.field(description="Members a restricted record is shared with (administrators).")
    async def shared_with(self, info: Info) -> list[Staff] | None:
        if not sees_link(self._actor, self._row.id, self._row.restricted, "shared_with"):
            return None
        ids = await loaders.shared_with(info.context, self._actor).load(self._row.id)
        rows = await loaders.staff_by_id(info.context, self._actor).load_many(ids)
        return [Staff.build(r, self._actor) for r in rows if r is not None]


@strawberry.type(description="An edge in the staff connection.")
class StaffEdge:
    _cursors: strawberry.Private[Sequence[str]]  # the page's, encoded when read
    _index: strawberry.Private[int]

    @strawberry.field(description="Opaque keyset cursor.")
    def cursor(self) -> str:
        return self._cursors[self._index]

    node: Staff = strawberry.field(description="The staff member.")


@strawberry.type(description="A page of the staff directory.")
class StaffConnection:
    edges: list[StaffEdge] = strawberry.field(description="This page.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Staff matching the search and filter, across all pages.")
    async def total_count(self) -> int:
        return await self._count()

    @strawberry.field(description="The nodes of this page, without edges.")
    def nodes(self) -> list[Staff]:
        return [e.node for e in self.edges]


# The bodies of Staff's resolvers that read related rows, as functions of the request's
# context and the record (a Staff, or the plan's SeenStaff): the resolvers call them, and
# so do the compiled plans (``app.graphql.hot.AWAITED``), with ``build``/``node`` making
# SeenStaff of the records they return.


async def direct_reports_of(
    ctx,
    staff,
    first: int = 50,
    after: str | None = None,
    *,
    node=None,
    columns: PageColumns = ALL_COLUMNS,
) -> StaffConnection:
    """Staff.directReports: the directory's page of the records reporting to ``staff``;
    ``columns``: what it reads of them (``directory_page``)."""
    node = node or Staff.build
    if not access.open_to(staff._actor, "manager_id"):  # guests see nobody's manager
        return staff_connection(_NO_ROWS, staff._actor, _none, node=node)
    query = StaffQuery(first=first, after=after, filter=StaffFilter(reports_to=staff._row.id))
    async with ctx.db() as session:
        return await directory_page(ctx, session, staff._actor, query, node=node, columns=columns)


async def reporting_chain_of(ctx, staff, *, build=None) -> list | None:
    """Staff.reportingChain: the managers above ``staff`` as its viewer sees them, up to
    the first whose own manager the viewer does not see."""
    build = build or Staff.build
    if hidden(staff, "manager"):
        return None
    rows = await loaders.reporting_chains(ctx, staff._actor).load(staff._row.id)
    chain = []
    for row in rows:
        link = build(row, staff._actor)
        chain.append(link)
        if hidden(link, "manager"):  # the viewer does not see past this link
            break
    return chain


async def latest_invitation_of(ctx, staff):
    """Staff.invitation: the record's latest invitation, where its viewer may see it."""
    from app.graphql.types.invitations import Invitation

    row = await loaders.latest_invitation(ctx, staff._actor).load(staff._row.id)
    return Invitation(_row=row, _actor=staff._actor) if row else None


async def directory_page(
    ctx, session, actor: Actor, query: StaffQuery, node=None, columns: PageColumns = ALL_COLUMNS
) -> StaffConnection:
    """One page of the directory as ``actor`` sees it (the staff list's and directReports'):
    a refused query is BAD_USER_INPUT, managers are primed for ``manager``, and the total is
    counted in its own session only if asked. ``columns``: what the page reads of its rows
    and their managers (``list_staff``): all of them, unless the hot plan knows it reads
    fewer."""
    try:
        page = await staff_service.list_staff(session, actor, query, columns)
    except DomainError as exc:
        raise bad_input(exc.message) from None
    loaders.staff_by_id(ctx, actor).prime_many(page.managers)

    async def count() -> int:
        async with ctx.db() as counting:
            return await staff_service.count_staff(counting, actor, query)

    return staff_connection(page, actor, count, node=node or Staff.build)


_NO_ROWS = StaffPage(rows=[], cursors=[], has_next=False, has_previous=False, managers={})


async def _none() -> int:
    return 0


def staff_connection(page: StaffPage, actor: Actor, count, node=Staff.build) -> StaffConnection:
    """A fetched page as the viewer sees it; ``count`` is awaited only if totalCount is
    asked. ``node`` makes each node from (record, viewer); the hot plan's are SeenStaff."""
    return StaffConnection(
        edges=[
            StaffEdge(node=node(r, actor), _cursors=page.cursors, _index=i)
            for i, r in enumerate(page.rows)
        ],
        page_info=page_info(page.cursors, page.has_next, page.has_previous),
        _count=count,
    )
