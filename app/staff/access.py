"""Field-level access to staff records, as plain set lookups on the actor's permits.

Basic profile: everyone in the account. Details: unrestricted records, records shared with
the actor, one's own, or everything with VIEW_RESTRICTED_STAFF. Personal data: one's own,
or with VIEW_PERSONAL_DATA; SSN, salary and personal custom fields also need the details.
"""

from __future__ import annotations

import enum

from app.access import ROLE_RANK, Actor, Permit, Role

BASIC_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "title",
        "company",
        "manager_id",
        "notes",
        "is_inactive",
        "kind",
        "default_project_role_id",
    }
)
DETAILED_FIELDS = frozenset(
    {
        "status_id",
        "start_date",
        "term_date",
        "capacity",
        "cost_factor",
        "hour_rate_type",
        "rate1",
        "rate2",
        "rate3",
        "rate4",
        "rate5",
        "home_timezone",
    }
)
PERSONAL_FIELDS = frozenset({"email", "phone_cell", "phone_work", "phone_home", "address"})
SECRET_FIELDS = frozenset({"ssn", "salary"})
ADMIN_FIELDS = frozenset({"restricted"})


class Shown(enum.Enum):
    """Who sees a field of a staff record."""

    ALWAYS = "always"  # everyone who sees the record
    WITH_DETAILS = "details"  # viewers of its details (restricted records)
    WITH_PERSONAL_DATA = "personal"  # the person and holders of ViewPersonalData


def shown(field: str) -> Shown:
    """Who sees ``field`` (SSN and salary need both: see ``SECRET_FIELDS``)."""
    if field in PERSONAL_FIELDS:
        return Shown.WITH_PERSONAL_DATA
    if field in DETAILED_FIELDS:
        return Shown.WITH_DETAILS
    return Shown.ALWAYS


def can_see_details(actor: Actor, staff_id: int, restricted: bool) -> bool:
    return (
        not restricted
        or staff_id == actor.staff_id
        or Permit.VIEW_RESTRICTED_STAFF in actor.permits
        or staff_id in actor.shared_staff_ids
    )


def can_see_personal(actor: Actor, staff_id: int) -> bool:
    return staff_id == actor.staff_id or Permit.VIEW_PERSONAL_DATA in actor.permits


def can_edit(actor: Actor, staff_id: int, restricted: bool) -> bool:
    if Permit.EDIT_RESTRICTED_STAFF in actor.permits:
        return True
    return Permit.EDIT_STAFF in actor.permits and (
        not restricted or staff_id in actor.shared_staff_ids
    )


def can_manage(actor: Actor, staff_id: int, role: Role) -> bool:
    """Disable, enable, delete: never oneself, only people strictly below one's role."""
    return (
        Permit.MANAGE_STAFF in actor.permits
        and staff_id != actor.staff_id
        and ROLE_RANK[role] < ROLE_RANK[actor.role]
    )


def write_denial(actor: Actor, staff_id: int, restricted: bool, field: str) -> str | None:
    """Why ``actor`` may not write ``field`` of this record, or None if they may."""
    is_self = staff_id == actor.staff_id
    editable = can_edit(actor, staff_id, restricted)
    has_permit = Permit.VIEW_PERSONAL_DATA in actor.permits
    if field in PERSONAL_FIELDS:
        if is_self or (editable and has_permit):
            return None
        return "Changing personal data needs the ViewPersonalData permit."
    if field in SECRET_FIELDS:
        if editable and has_permit and (not is_self or actor.role == Role.OWNER):
            return None
        return "You may not change this staff member's SSN or salary."
    if field in ADMIN_FIELDS:
        return (
            None
            if Permit.EDIT_RESTRICTED_STAFF in actor.permits
            else ("Only administrators restrict or unrestrict records.")
        )
    return None if editable else "You may not edit this staff member."


def can_see_permits(actor: Actor, staff_id: int) -> bool:
    """Which permits a member holds: administrators (MANAGE_STAFF) and the member."""
    return Permit.MANAGE_STAFF in actor.permits or staff_id == actor.staff_id


def can_see_shares(actor: Actor) -> bool:
    """Whom a record is shared with: those who may share records (EDIT_RESTRICTED_STAFF)."""
    return Permit.EDIT_RESTRICTED_STAFF in actor.permits
