"""GraphQL enums, mapped from the domain's Python enums.

`strawberry.enum` marks a domain enum in place; each name here is the domain enum itself,
so a type checker accepts it in annotations.
"""

import strawberry

from app.access import Permit
from app.access import Role as DomainRole
from app.custom_fields.models import CustomFieldType as DomainFieldType
from app.staff.models import AccountStatus as DomainAccountStatus
from app.staff.models import StaffKind as DomainStaffKind
from app.staff.queries import SortDirection as DomainSortDirection
from app.staff.queries import StaffSortKey as DomainStaffSortKey

Role = DomainRole
strawberry.enum(Role, name="Role", description="Access level within an account.")
strawberry.enum(Permit, name="Permit", description="A single capability.")
StaffKind = DomainStaffKind
strawberry.enum(StaffKind, name="StaffKind", description="Kind of person.")
AccountStatus = DomainAccountStatus
strawberry.enum(
    AccountStatus,
    name="AccountStatus",
    description="Where a staff member stands with their login to this account.",
)
CustomFieldType = DomainFieldType
strawberry.enum(
    CustomFieldType, name="CustomFieldType", description="Type a custom field's values take."
)
StaffSortKey = DomainStaffSortKey
strawberry.enum(StaffSortKey, name="StaffSortKey", description="Orderings of the staff directory.")
SortDirection = DomainSortDirection
strawberry.enum(SortDirection, name="SortDirection", description="Order.")

from app.invitations.join_links import JoinOutcome as DomainJoinOutcome  # noqa: E402
from app.invitations.models import InvitationStatus as DomainInvitationStatus  # noqa: E402
from app.invitations.models import JoinRequestStatus as DomainJoinRequestStatus  # noqa: E402

InvitationStatus = DomainInvitationStatus
strawberry.enum(InvitationStatus, name="InvitationStatus", description="State of an invitation.")
JoinRequestStatus = DomainJoinRequestStatus
strawberry.enum(JoinRequestStatus, name="JoinRequestStatus", description="State of a join request.")
JoinOutcome = DomainJoinOutcome
strawberry.enum(JoinOutcome, name="JoinOutcome", description="What happened when someone joined.")

from app.accounts.plans import Plan as DomainPlan  # noqa: E402

Plan = DomainPlan
strawberry.enum(
    Plan, name="Plan", description="Plans: FREE 5 seats, TEAM 25, BUSINESS 100, CUSTOM any."
)

from app.access.scopes import SCOPE_DESCRIPTIONS  # noqa: E402
from app.access.scopes import Scope as DomainScope  # noqa: E402

ApiScope = DomainScope
strawberry.enum(
    ApiScope,
    name="ApiScope",
    description="What an API key may do (never more than its creator's role allows now): "
    + " ".join(f"{s.name} ({s.value}): {SCOPE_DESCRIPTIONS[s]}" for s in DomainScope),
)
