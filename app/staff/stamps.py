"""When a staff record last changed, as each of its readers sees it.

One time of last change would tell everyone who sees a record's ``modifiedAt`` when its
personal data or its restricted details changed (a viewer would learn the day someone's
salary or address was edited). So the record keeps a time per class of field: the name
card and basic profile (``modified_at``), the details, the personal data, and the SSN and
salary, each a field of ``app.staff.fields.STAFF`` of the class it stamps (so who sees a
stamp is who sees the changes it records, by the same rule); ``modified_at``'s
``latest_of`` names them. A write moves the stamp of each class it changes (``touch``),
and a reader is shown the latest stamp they see (``latest``, ``latest_seen``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime

from app.access import Actor
from app.events.catalogue import STAFF_LINKS
from app.fields import NEEDS_DETAILS, NEEDS_PERSONAL_DATA, derive
from app.staff import access
from app.staff.access import Shown
from app.staff.fields import STAFF

SHOWN_STAMP = "modified_at"  # the field whose value readers are shown

# The stamp a change to a field of each class moves; the stamps a reader of the profile
# sees, by whether they see the details and the personal data. From the field table.
STAMP_OF: dict[Shown, str] = {}
_SEEN: dict[tuple[bool, bool], tuple[str, ...]] = {}


@derive
def _from_the_field_table() -> None:
    stamps = STAFF[SHOWN_STAMP].latest_of
    found = {access.shown(name): name for name in stamps}
    if len(found) != len(stamps):
        raise ValueError(f"staff.{SHOWN_STAMP}: two stamps of one class")
    # The name card's changes are seen by every reader of the profile's stamp.
    found.setdefault(Shown.ALWAYS, found[access.shown(SHOWN_STAMP)])
    missing = set(Shown) - found.keys()
    if missing:
        raise ValueError(f"staff.{SHOWN_STAMP}: no stamp for {sorted(s.value for s in missing)}")
    STAMP_OF.clear()
    STAMP_OF.update(found)
    _SEEN.clear()
    for details, personal in itertools.product((False, True), repeat=2):
        _SEEN[details, personal] = tuple(
            name
            for name in stamps
            if (details or STAFF[name].visibility not in NEEDS_DETAILS)
            and (personal or STAFF[name].visibility not in NEEDS_PERSONAL_DATA)
        )


def moved(fields: Iterable[str], now: datetime) -> dict[str, datetime]:
    """The stamps a change to ``fields`` (fields of STAFF shown as data; a bookkeeping
    column or an unknown name is an error) moves, each to ``now``: for an UPDATE of many
    records at once (``.values(..., **moved(...))``)."""
    return dict.fromkeys({STAMP_OF[access.shown(field)] for field in fields}, now)


def touch(staff, fields: Iterable[str], now: datetime) -> None:
    """Moves to ``now`` the stamps of the classes of ``fields`` (see ``moved``)."""
    for name, value in moved(fields, now).items():
        setattr(staff, name, value)


def touch_custom_values(staff, personal: Iterable[bool], now: datetime) -> None:
    """Moves to ``now`` the stamps of changes to custom values of ``staff``, one flag per
    value changed: whether its field is personal. Their class is their link's in
    ``app.events.catalogue.STAFF_LINKS`` (by which updates are told, the same rule)."""
    for link in {"personal_custom_fields" if flag else "custom_fields" for flag in personal}:
        shown = access.shown_as(STAFF_LINKS[link].visibility, f"staff.{link}")
        setattr(staff, STAMP_OF[shown], now)


def seen(*, details: bool, personal: bool) -> tuple[str, ...]:
    """The stamps (their columns) a reader of a record's profile sees who sees its details
    and its personal data as told."""
    return _SEEN[details, personal]


def latest(row, *, details: bool, personal: bool) -> datetime:
    """The latest change to ``row`` (anything with the stamps' attributes) that a reader
    of its profile sees who sees its details and its personal data as told."""
    found = (getattr(row, name) for name in seen(details=details, personal=personal))
    return max(stamp for stamp in found if stamp is not None)


def latest_seen(actor: Actor, row) -> datetime | None:
    """The record's ``modifiedAt`` as ``actor`` sees it: None without its profile."""
    if not access.can_see_field(actor, row.id, row.restricted, SHOWN_STAMP):
        return None
    return latest(
        row,
        details=access.can_see_details(actor, row.id, row.restricted),
        personal=access.can_see_personal(actor, row.id),
    )
