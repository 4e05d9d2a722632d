"""Field-level access to staff records, as plain set lookups on the actor's permits.

Which records: members who see the directory (VIEW_STAFF) see every record of the account;
guests see their own and those of the people on their projects (``app.staff.queries``).
Name card (name, title, kind): whoever sees the record. Basic profile: the directory's
members, and one's own. Details: unrestricted records, records shared with
the actor, one's own, or everything with VIEW_RESTRICTED_STAFF. Personal data: one's own
(an API key's only with the personal_data scope), or with VIEW_PERSONAL_DATA; SSN, salary
and personal custom fields also need the details.
Which fields are which, and who writes them, is ``app.staff.fields.STAFF``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.access import ROLE_RANK, Actor, Permit, Role
from app.access.scopes import sees_own_personal_data
from app.fields import (
    NEEDS_DETAILS,
    NEEDS_PERSONAL_DATA,
    NEEDS_PROFILE,
    UnknownField,
    Visibility,
    Write,
)
from app.staff.fields import STAFF


class Shown(enum.Enum):
    """Who sees a field of a staff record."""

    ALWAYS = "always"  # everyone who sees the record (its name card)
    WITH_PROFILE = "profile"  # viewers of its profile (not guests, but of their own)
    WITH_DETAILS = "details"  # viewers of its details (restricted records)
    WITH_PERSONAL_DATA = "personal"  # the person and holders of ViewPersonalData
    WITH_DETAILS_AND_PERSONAL_DATA = "secret"  # both (SSN, salary)


# Seeing the details or the personal data of a record includes seeing its profile.
SHOWN = {
    (False, False, False): Shown.ALWAYS,
    (True, False, False): Shown.WITH_PROFILE,
    (True, True, False): Shown.WITH_DETAILS,
    (True, False, True): Shown.WITH_PERSONAL_DATA,
    (True, True, True): Shown.WITH_DETAILS_AND_PERSONAL_DATA,
}


def shown(field: str) -> Shown:
    """Who sees ``field`` (its class in ``app.staff.fields.STAFF``); an unknown field, or
    a bookkeeping column that is never shown as data, is an error (UnknownField)."""
    return shown_as(STAFF[field].visibility, f"staff.{field}")


def shown_as(visibility: Visibility, what: str) -> Shown:
    """Who sees what of a staff record has class ``visibility`` (a field, or rows that hang
    off the record: ``app.events.catalogue.STAFF_LINKS``); bookkeeping is an error."""
    if visibility is Visibility.INTERNAL:
        raise UnknownField(f"{what} is bookkeeping, never shown")
    return SHOWN[
        visibility in NEEDS_PROFILE,
        visibility in NEEDS_DETAILS,
        visibility in NEEDS_PERSONAL_DATA,
    ]


def sees_directory(actor: Actor) -> bool:
    """Whether ``actor`` sees every record of the account (guests do not: see
    ``app.staff.queries.visible``)."""
    return Permit.VIEW_STAFF in actor.permits


def can_see_profile(actor: Actor, staff_id: int) -> bool:
    """The basic profile of a record the actor sees: the directory's members, and one's
    own; a guest sees only the name card of the people on their projects."""
    return staff_id == actor.staff_id or Permit.VIEW_STAFF in actor.permits


def can_see_details(actor: Actor, staff_id: int, restricted: bool) -> bool:
    return can_see_profile(actor, staff_id) and (
        not restricted
        or staff_id == actor.staff_id
        or Permit.VIEW_RESTRICTED_STAFF in actor.permits
        or staff_id in actor.shared_staff_ids
    )


def owns_personal_data(actor: Actor, staff_id: int) -> bool:
    """``staff_id`` is the actor's own record, whose personal data they see and write
    without the permit: in a session, or with a key whose scope carries the permit
    (``app.access.scopes.sees_own_personal_data``); a key without one touches none."""
    return staff_id == actor.staff_id and sees_own_personal_data(actor)


def can_see_personal(actor: Actor, staff_id: int) -> bool:
    """One's own record's (``owns_personal_data``), or everyone's with VIEW_PERSONAL_DATA."""
    if owns_personal_data(actor, staff_id):
        return True
    return Permit.VIEW_PERSONAL_DATA in actor.permits and Permit.VIEW_STAFF in actor.permits


def can_see_field(actor: Actor, staff_id: int, restricted: bool, field: str) -> bool:
    """Whether ``actor`` sees ``field`` of a record they see (its class in ``STAFF``)."""
    return can_see_shown(actor, staff_id, restricted, shown(field))


def can_see_shown(actor: Actor, staff_id: int, restricted: bool, needed: Shown) -> bool:
    """Whether ``actor`` sees what ``needed`` says of a record they see (``shown``)."""
    if needed is Shown.ALWAYS:
        return True
    if not can_see_profile(actor, staff_id):
        return False
    if needed in (Shown.WITH_DETAILS, Shown.WITH_DETAILS_AND_PERSONAL_DATA):
        if not can_see_details(actor, staff_id, restricted):
            return False
    if needed in (Shown.WITH_PERSONAL_DATA, Shown.WITH_DETAILS_AND_PERSONAL_DATA):
        return can_see_personal(actor, staff_id)
    return True


def open_to(actor: Actor, field: str) -> bool:
    """Whether ``actor`` sees ``field`` of others' records wherever they see those
    records: what they may search, filter and sort by (so none of these tells them a
    value they would not be shown). Details depend on the record, so no detailed field
    is open to anyone this way."""
    visibility = STAFF[field].visibility
    if visibility is Visibility.INTERNAL or visibility in NEEDS_DETAILS:
        return False
    if visibility in NEEDS_PROFILE and Permit.VIEW_STAFF not in actor.permits:
        return False
    return visibility not in NEEDS_PERSONAL_DATA or Permit.VIEW_PERSONAL_DATA in actor.permits


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
    """Why ``actor`` may not write ``field`` of this record, or None if they may (who may
    write it, and its class, are its row in ``app.staff.fields.STAFF``)."""
    row = STAFF[field]
    if row.write is Write.NOBODY:
        return row.denied or "This field cannot be changed here."
    if row.write is Write.ADMINISTRATORS:
        if Permit.EDIT_RESTRICTED_STAFF in actor.permits:
            return None
        return row.denied or "Only administrators change this field."
    is_self = staff_id == actor.staff_id
    editable = can_edit(actor, staff_id, restricted)
    has_permit = Permit.VIEW_PERSONAL_DATA in actor.permits
    if row.visibility is Visibility.SECRET:
        if editable and has_permit and (not is_self or actor.role == Role.OWNER):
            return None
        return "You may not change this staff member's SSN or salary."
    if row.visibility in NEEDS_PERSONAL_DATA:
        if owns_personal_data(actor, staff_id) or (editable and has_permit):
            return None
        return "Changing personal data needs the ViewPersonalData permit."
    return None if editable else "You may not edit this staff member."


NO_EMAIL_WHILE_IMPERSONATING = "Emails cannot change while impersonating."


def email_change_denial(actor: Actor, staff_id: int, role: Role) -> str | None:
    """Why ``actor`` may not change the email of a record with ``role``, or None. The
    owner's record gets its login back at its own address (an invitation, a join link or a
    sign-up there keeps it the owner's: ``app.access.joining_role``), so whoever chose that
    address would choose the owner: only the owner changes it (a restore takes the
    address its backup holds). Nobody changes an email while impersonating: the address
    is where a login's links go."""
    if actor.impersonated:
        return NO_EMAIL_WHILE_IMPERSONATING
    if role == Role.OWNER and staff_id != actor.staff_id:
        return "Only the owner changes the owner's email."
    return None


@dataclass(frozen=True)
class Carried:
    """What a record without a login holds for whoever next joins as it: the permits
    granted to it, and whether records are shared with it (``service.carried``)."""

    grants: frozenset[Permit] = frozenset()
    shared: bool = False


def handover_denial(actor: Actor, carried: Carried | None) -> str | None:
    """Why ``actor`` may not point a record without a login at an address (change its
    email, invite it at another one), or None. Whoever joins at that address (an
    invitation, a join link, a sign-up) becomes the record's person, with its permit grants
    and the records shared with it: nobody hands those over who could not give them
    (granting needs MANAGE_STAFF and the permit itself, ``refusal_to_grant``; sharing needs
    EDIT_RESTRICTED_STAFF). An editor who readdressed a record that a restricted record is
    shared with, then joined at the new address, read that record through a login of their
    own. (What is given to the record after its address was chosen goes to that address:
    who shares with, or grants to, a record without a login gives it to whoever its
    address is.)"""
    if carried is None:
        return None
    may_grant = all(_may_grant(actor, p) for p in carried.grants)
    may_share = not carried.shared or actor.can(Permit.EDIT_RESTRICTED_STAFF)
    if may_grant and may_share:
        return None
    # what it holds is not named: who may not give it may not see it either
    # (``can_see_permits``, ``can_see_shares``)
    who = (
        "this API key's scopes do not allow giving it"
        if actor.scopes is not None
        else "an administrator may choose its address"
    )
    return (
        "This staff member holds access that whoever joins at its address would get, "
        f"and that you may not give: {who}."
    )


def _may_grant(actor: Actor, permit: Permit) -> bool:
    """What ``staffPermitGrant`` asks of a granter (``membership.set_permit``)."""
    return Permit.MANAGE_STAFF in actor.permits and actor.refusal_to_grant(permit) is None


def can_see_permits(actor: Actor, staff_id: int) -> bool:
    """Which permits a member holds: administrators (MANAGE_STAFF) and the member."""
    return Permit.MANAGE_STAFF in actor.permits or staff_id == actor.staff_id


def can_see_shares(actor: Actor) -> bool:
    """Whom a record is shared with: those who may share records (EDIT_RESTRICTED_STAFF)."""
    return Permit.EDIT_RESTRICTED_STAFF in actor.permits


def create_denial(actor: Actor, field: str, value) -> str | None:
    """Why ``actor`` may not set ``field`` of a record they add, or None if they may:
    administrators' fields need EDIT_RESTRICTED_STAFF and personal data the permit, as
    their rows say (``Field.created``; adding needs ADD_STAFF, the caller's check, and the
    fields nobody writes are set by the operation itself, the role within one's own)."""
    if value is None:
        return None
    row = STAFF[field]
    if row.created is Write.ADMINISTRATORS and Permit.EDIT_RESTRICTED_STAFF not in actor.permits:
        return row.denied or "Only administrators set this field."
    if row.visibility in NEEDS_PERSONAL_DATA:
        if Permit.VIEW_PERSONAL_DATA not in actor.permits:
            return "Setting personal data needs the ViewPersonalData permit."
    return None
