"""What one subscriber may learn from an event: which changed fields they are told of,
and whether the event reaches them at all.

The records themselves are read by each subscriber through the same domain look-ups the
queries use (``staff.service.get_many``, ``invitations.service.find_invitation``,
``custom_fields.service.get_field``), so an event shows exactly what a query would. The
event's own data is field names; a name reaches a subscriber only if they see that field
of that record (``app.staff.access``), under its API name. An update none of whose fields
the subscriber sees does not reach them: a restricted record's details change only for
those it is shared with, and a personal custom field's values only for those who see the
record's personal data. Each name's class is its row (``app.events.catalogue.field_of``),
the same rows the webhooks read.
"""

from __future__ import annotations

from collections.abc import Callable

from app.access import Actor
from app.events.catalogue import STAFF_LINKS, field_of
from app.fields import camel
from app.staff import access

# Who is told of a change to rows hanging off a staff record (``catalogue.STAFF_LINKS``):
# those who see that class of the record (its row: a personal custom field's values need
# the details and the personal data), and for these, who holds a permit of their own.
_LINK_AUDIENCE: dict[str, Callable[[Actor, int], bool]] = {
    "shared_with": lambda actor, staff_id: access.can_see_shares(actor),
    "permits": lambda actor, staff_id: access.can_see_permits(actor, staff_id),
}
for _name in _LINK_AUDIENCE:
    STAFF_LINKS[_name]  # a name the catalogue does not know is an error (UnknownField)


def _sees(actor: Actor, staff_id: int, restricted: bool, name: str) -> bool:
    if name not in STAFF_LINKS:
        return access.can_see_field(actor, staff_id, restricted, name)
    return sees_link(actor, staff_id, restricted, name)


def sees_link(actor: Actor, staff_id: int, restricted: bool, name: str) -> bool:
    """Whether ``actor`` sees the rows named ``name`` (``STAFF_LINKS``: whom a record is
    shared with, a member's permits...) hanging off a staff record they see: the class of
    the record its row says, then the permit of its own its audience needs. The one rule
    for the fields' resolvers and for who is told they changed."""
    needed = access.shown_as(STAFF_LINKS[name].visibility, f"staff link {name}")
    if not access.can_see_shown(actor, staff_id, restricted, needed):
        return False
    audience = _LINK_AUDIENCE.get(name)
    return audience is None or audience(actor, staff_id)


def staff_fields_seen(
    actor: Actor, staff_id: int, restricted: bool, names: tuple[str, ...] | list[str]
) -> list[str]:
    """The API names of the changed fields of a staff record that ``actor`` sees, each
    once (values of personal and other custom fields are both ``customFields``). A name
    the catalogue has no row for is an error (UnknownField), never shown."""
    seen: list[str] = []
    for name in names:
        api = field_of("Staff", name).api
        if api is not None and api not in seen and _sees(actor, staff_id, restricted, name):
            seen.append(api)
    return seen


# What a staff event other than an update tells of its record, by the field it moved
# (``catalogue._STAFF_OWN_EVENTS``): a subscriber is told of it only if they see that field
# of the record. A guest sees a project colleague's name card, not whether they were
# disabled or joined; a reader of the name card alone is not told of a role change.
STAFF_EVENT_FIELDS: dict[str, str | None] = {
    "staff.created": None,
    "staff.updated": None,  # told by the fields it names (``staff_fields_seen``)
    "staff.deleted": None,  # told to readers of the whole directory (``staff_deletion_seen``)
    "staff.disabled": "account_status",
    "staff.enabled": "account_status",
    "member.joined": "account_status",
    "member.left": "account_status",
    "staff.role_changed": "role",
}


def staff_event_seen(actor: Actor, staff_id: int, restricted: bool, event_type: str) -> bool:
    """Whether ``actor``, who sees the record, is told that ``event_type`` happened to it
    (``STAFF_EVENT_FIELDS``; a type the table does not name is an error)."""
    field = STAFF_EVENT_FIELDS[event_type]
    return field is None or _sees(actor, staff_id, restricted, field)


def staff_deletion_seen(actor: Actor) -> bool:
    """A deleted record is gone for every reader; its deletion is told to those who saw the
    whole directory (a guest never learns of records outside their projects)."""
    return access.sees_directory(actor)


def custom_field_names(names: tuple[str, ...] | list[str]) -> list[str]:
    """Definitions are seen whole by whoever sees them: the changed names, as the API
    names them (an unknown name is an error, UnknownField)."""
    return [field_of("CustomField", name).api or camel(name) for name in names]


def custom_field_deletion_seen(actor: Actor) -> bool:
    return access.sees_directory(actor)
