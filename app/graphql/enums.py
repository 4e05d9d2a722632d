"""GraphQL enums, mapped from the domain's Python enums."""

import strawberry

from app.access import Permit as DomainPermit
from app.access import Role as DomainRole
from app.custom_fields.models import CustomFieldType as DomainFieldType
from app.staff.models import AccountStatus as DomainAccountStatus
from app.staff.models import StaffKind as DomainStaffKind
from app.staff.queries import SortDirection as DomainSortDirection
from app.staff.queries import StaffSortKey as DomainStaffSortKey

Role = strawberry.enum(DomainRole, name="Role", description="Access level within an account.")
Permit = strawberry.enum(DomainPermit, name="Permit", description="A single capability.")
StaffKind = strawberry.enum(DomainStaffKind, name="StaffKind", description="Kind of person.")
AccountStatus = strawberry.enum(
    DomainAccountStatus,
    name="AccountStatus",
    description="Where a staff member stands with their login to this account.",
)
CustomFieldType = strawberry.enum(
    DomainFieldType, name="CustomFieldType", description="Type a custom field's values take."
)
StaffSortKey = strawberry.enum(
    DomainStaffSortKey, name="StaffSortKey", description="Orderings of the staff directory."
)
SortDirection = strawberry.enum(DomainSortDirection, name="SortDirection", description="Order.")

from app.invitations.join_links import JoinOutcome as DomainJoinOutcome  # noqa: E402
from app.invitations.models import InvitationStatus as DomainInvitationStatus  # noqa: E402
from app.invitations.models import JoinRequestStatus as DomainJoinRequestStatus  # noqa: E402

InvitationStatus = strawberry.enum(
    DomainInvitationStatus, name="InvitationStatus", description="State of an invitation."
)
JoinRequestStatus = strawberry.enum(
    DomainJoinRequestStatus, name="JoinRequestStatus", description="State of a join request."
)
JoinOutcome = strawberry.enum(
    DomainJoinOutcome, name="JoinOutcome", description="What happened when someone joined."
)

from app.accounts.plans import Plan as DomainPlan  # noqa: E402

Plan = strawberry.enum(
    DomainPlan, name="Plan", description="Plans: FREE 5 seats, TEAM 25, BUSINESS 100, CUSTOM any."
)
