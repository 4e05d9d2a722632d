"""Roles and permits. Roles are data: what each may do is the ROLE_PERMITS table."""

from __future__ import annotations

import enum
from functools import cache

from app.errors import Forbidden


class Role(enum.StrEnum):
    GUEST = "GUEST"
    VIEWER = "VIEWER"
    EDITOR = "EDITOR"
    ADMINISTRATOR = "ADMINISTRATOR"
    OWNER = "OWNER"


class Permit(enum.StrEnum):
    VIEW_STAFF = "VIEW_STAFF"
    """The directory: the basic profile of everyone; details of unrestricted records and
    those shared with one. Without it (guests) a member sees their own record and the name
    card of the people on their projects, nothing else (``app.staff.access``)."""
    VIEW_RESTRICTED_STAFF = "VIEW_RESTRICTED_STAFF"
    """Details of every record, restricted or not."""
    EDIT_STAFF = "EDIT_STAFF"
    """Edit basic and detailed fields of unrestricted records and those shared with one."""
    EDIT_RESTRICTED_STAFF = "EDIT_RESTRICTED_STAFF"
    """Edit every record; share restricted records."""
    ADD_STAFF = "ADD_STAFF"
    INVITE_USERS = "INVITE_USERS"
    VIEW_PERSONAL_DATA = "VIEW_PERSONAL_DATA"
    """Email, phones, address, SSN, salary and personal custom fields."""
    MANAGE_STAFF = "MANAGE_STAFF"
    """Disable, enable, delete, change roles below one's own, grant permits."""
    MANAGE_ACCOUNT = "MANAGE_ACCOUNT"
    """Custom fields, staff statuses, account settings, join links, projects, exports."""
    IMPERSONATE = "IMPERSONATE"
    MANAGE_BILLING = "MANAGE_BILLING"
    """Change the plan and seats, transfer ownership."""


ROLE_RANK: dict[Role, int] = {
    Role.GUEST: -1,
    Role.VIEWER: 0,
    Role.EDITOR: 1,
    Role.ADMINISTRATOR: 2,
    Role.OWNER: 3,
}

_ADMIN = frozenset(Permit) - {Permit.MANAGE_BILLING}


def may_assign(by: Role, role: Role) -> bool:
    """Whether a member of role ``by`` may hand out ``role``: nobody hands out a role
    above their own, and OWNER is never handed out (``Actor.refusal_to_hand_out``)."""
    return role != Role.OWNER and ROLE_RANK[role] <= ROLE_RANK[by]


def joining_role(record_role: Role | None, offered: Role) -> Role:
    """The role a staff record of ``record_role`` (None: a new record) has once a way in
    offering ``offered`` reaches it: an invitation (made, resent, accepted), a join link,
    an approved join request, a sign-up into the account. The one rule every way in
    calls, so that the account keeps exactly one owner:

    - The owner's record stays the owner's, whatever the way in offers. It can be without
      a login (a restore writes it NOT_INVITED), and getting one back through an
      invitation, a link or a sign-up at its address gives the owner their account back;
      it never demotes them and leaves the account without an owner.
    - No other record becomes the owner: OWNER is never handed out (``may_assign``), and
      an offer of it to any other record is refused. Ownership moves only by
      ``transfer_ownership``, from the owner."""
    if record_role == Role.OWNER:
        return Role.OWNER
    if offered == Role.OWNER:
        raise Forbidden(
            "Nobody becomes the owner this way; transfer ownership instead.", field=["role"]
        )
    return offered


def may_offer(by: Role, role: Role) -> bool:
    """Whether a member of role ``by`` may invite as ``role`` (send, resend or revoke such an
    invitation): a role they may hand out (``may_assign``), or OWNER, which only the
    owner's own record is offered (``joining_role``), by an administrator: inviting the
    owner's record gives it a login, and hands out no role it did not have."""
    if role == Role.OWNER:
        return ROLE_RANK[by] >= ROLE_RANK[Role.ADMINISTRATOR]
    return may_assign(by, role)


ROLE_PERMITS: dict[Role, frozenset[Permit]] = {
    Role.GUEST: frozenset(),
    Role.VIEWER: frozenset({Permit.VIEW_STAFF}),
    Role.EDITOR: frozenset({Permit.VIEW_STAFF, Permit.EDIT_STAFF, Permit.ADD_STAFF}),
    Role.ADMINISTRATOR: _ADMIN,
    Role.OWNER: frozenset(Permit),
}

# What each permit lets a member do, in the words a refusal uses (app.access.require).
PERMIT_ALLOWS: dict[Permit, str] = {
    Permit.VIEW_STAFF: "see the staff directory",
    Permit.VIEW_RESTRICTED_STAFF: "see the details of restricted records",
    Permit.EDIT_STAFF: "edit staff records",
    Permit.EDIT_RESTRICTED_STAFF: "edit and share restricted records",
    Permit.ADD_STAFF: "add staff",
    Permit.INVITE_USERS: "invite people to this account",
    Permit.VIEW_PERSONAL_DATA: "see personal data",
    Permit.MANAGE_STAFF: "manage members",
    Permit.MANAGE_ACCOUNT: "administer the account",
    Permit.IMPERSONATE: "log in as other members",
    Permit.MANAGE_BILLING: "change the plan, seats and ownership",
}

# The roles the account setting everyoneCanInvite lets invite: never guests, who are not
# of the organisation (whatever the setting says).
INVITE_WITH_SETTING: frozenset[Role] = frozenset(
    {Role.VIEWER, Role.EDITOR, Role.ADMINISTRATOR, Role.OWNER}
)

# Permits an administrator may grant to one member on top of their role.
GRANTABLE_PERMITS: frozenset[Permit] = frozenset({Permit.VIEW_PERSONAL_DATA})

ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.GUEST: "Someone from outside the organisation (a customer or vendor): sees their own "
    "record and the names, titles and kinds of the people on their projects; nothing else.",
    Role.VIEWER: "Sees the basic profile of everyone and the details of unrestricted people "
    "or those shared with them; changes nothing.",
    Role.EDITOR: "Everything a viewer may, plus adding people and editing unrestricted people "
    "or those shared with them.",
    Role.ADMINISTRATOR: "Unrestricted access to people and personal data; customises the "
    "account, invites, manages members below their role.",
    Role.OWNER: "An administrator who also controls the plan, seats and ownership. "
    "Exactly one per account.",
}


def role_permits(
    role: Role, granted: frozenset[Permit] | set[Permit] = frozenset()
) -> list[Permit]:
    """The permits a member holds (their role's and the grants on top), in a stable order."""
    if not granted:
        return list(_sorted_permits(Role(role)))
    return sorted(ROLE_PERMITS[Role(role)] | granted)


@cache
def _sorted_permits(role: Role) -> tuple[Permit, ...]:
    """A role's permits in order, sorted once (every viewer and picklist names them)."""
    return tuple(sorted(ROLE_PERMITS[role]))


def invites(role: Role, everyone_can_invite: bool) -> bool:
    """Whether a member of ``role`` may invite: by the role's permits, or by the account's
    everyoneCanInvite setting (``INVITE_WITH_SETTING``)."""
    return Permit.INVITE_USERS in ROLE_PERMITS[role] or (
        everyone_can_invite and role in INVITE_WITH_SETTING
    )


def roles_holding(permit: Permit) -> frozenset[Role]:
    """The roles whose permits include this one (read off ROLE_PERMITS)."""
    return frozenset(role for role, permits in ROLE_PERMITS.items() if permit in permits)
