"""What one subscriber may learn from an event: which changed fields they are told of,
and whether the event reaches them at all.

The records themselves are read by each subscriber through the same domain look-ups the
queries use (``staff.service.get_many``, ``invitations.service.find_invitation``,
``custom_fields.service.get_field``), so an event shows exactly what a query would. The
event's own data is field names; a name reaches a subscriber only if they see that field
of that record (``app.staff.access``), under its API name. An update none of whose fields
the subscriber sees does not reach them: a restricted record's details change only for
those it is shared with.
"""

from __future__ import annotations

from app.access import Actor
from app.custom_fields.fields import CUSTOM_FIELDS
from app.fields import UnknownField, camel
from app.staff import access
from app.staff.fields import STAFF

# Staff event names that are not fields of the staff table (rows hanging off a record):
# who is told of them.
_STAFF_LINKS = {
    "custom_fields": lambda actor, staff_id, restricted: access.can_see_details(
        actor, staff_id, restricted
    ),
    "shared_with": lambda actor, staff_id, restricted: access.can_see_shares(actor),
    "permits": lambda actor, staff_id, restricted: access.can_see_permits(actor, staff_id),
}
_STAFF_LINK_API = {
    "custom_fields": "customFields",
    "shared_with": "sharedWith",
    "permits": "permits",
}


def staff_fields_seen(
    actor: Actor, staff_id: int, restricted: bool, names: tuple[str, ...] | list[str]
) -> list[str]:
    """The API names of the changed fields of a staff record that ``actor`` sees."""
    seen: list[str] = []
    for name in names:
        link = _STAFF_LINKS.get(name)
        if link is not None:
            if link(actor, staff_id, restricted):
                seen.append(_STAFF_LINK_API[name])
            continue
        try:
            visible = access.can_see_field(actor, staff_id, restricted, name)
        except UnknownField:
            continue
        api = STAFF[name].api
        if visible and api is not None:
            seen.append(api)
    return seen


def staff_deletion_seen(actor: Actor) -> bool:
    """A deleted record is gone for every reader; its deletion is told to those who saw the
    whole directory (a guest never learns of records outside their projects)."""
    return access.sees_directory(actor)


def custom_field_names(names: tuple[str, ...] | list[str]) -> list[str]:
    """Definitions are seen whole by whoever sees them: the changed names, as the API
    names them."""
    found = []
    for name in names:
        try:
            CUSTOM_FIELDS[name]
        except UnknownField:
            continue
        found.append(camel(name))
    return found


def custom_field_deletion_seen(actor: Actor) -> bool:
    return access.sees_directory(actor)
