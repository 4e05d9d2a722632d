"""CSV export of the staff list, streamed in batches so memory stays bounded.

Administrators only (``require_export``). Columns are every field and custom field the
caller may see: personal columns only with
the ViewPersonalData permit; details of a restricted record stay blank unless it is
shared with the caller. Cells that a spreadsheet would run as a formula are neutralised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from sqlalchemy import select

from app.access import Actor, Permit, require
from app.custom_fields.service import list_fields, values_for_staff
from app.staff import access
from app.staff.models import Staff
from app.staff.service import read_secret, statuses_by_id

BATCH = 500
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

BASIC = [
    ("sid", "sid"),
    ("first_name", "firstName"),
    ("last_name", "lastName"),
    ("title", "title"),
    ("company", "company"),
    ("manager_sid", "managerSid"),
    ("role", "role"),
    ("kind", "kind"),
    ("account_status", "accountStatus"),
    ("is_inactive", "isInactive"),
    ("restricted", "restricted"),
    ("notes", "notes"),
    ("created_at", "createdAt"),
    ("modified_at", "modifiedAt"),
]
PERSONAL = [
    ("email", "email"),
    ("phone_cell", "phoneCell"),
    ("phone_work", "phoneWork"),
    ("phone_home", "phoneHome"),
    ("address_street", "addressStreet"),
    ("address_city", "addressCity"),
    ("address_state", "addressState"),
    ("address_zip", "addressZip"),
    ("address_country", "addressCountry"),
]
DETAILED = [
    ("status", "status"),
    ("start_date", "startDate"),
    ("term_date", "termDate"),
    ("capacity", "capacity"),
    ("cost_factor", "costFactor"),
    ("hour_rate_type", "hourRateType"),
    ("rate1", "rate1"),
    ("rate2", "rate2"),
    ("rate3", "rate3"),
    ("rate4", "rate4"),
    ("rate5", "rate5"),
    ("home_timezone", "homeTimezone"),
]
SECRET = [("ssn", "ssn"), ("salary", "salary")]
HIDDEN_WITHOUT_DETAILS = frozenset(key for key, _ in DETAILED + SECRET)


def neutralise(value) -> str:
    """Text a spreadsheet would evaluate gets a leading apostrophe."""
    if value is None:
        return ""
    text = value.value if hasattr(value, "value") and not isinstance(value, str) else value
    text = str(text)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def require_export(actor: Actor) -> None:
    """Exports and backups are for administrators (MANAGE_ACCOUNT): a file of everyone
    leaves the application's field rules behind once it is downloaded."""
    require(actor, Permit.MANAGE_ACCOUNT)


def staff_csv(session, actor: Actor, keyring) -> AsyncIterator[str]:
    """The CSV's text in chunks; refused (AccessDenied) before anything is streamed."""
    require_export(actor)
    return _staff_csv(session, actor, keyring)


async def _staff_csv(session, actor: Actor, keyring) -> AsyncIterator[str]:
    personal = actor.can(Permit.VIEW_PERSONAL_DATA)
    fields = [f for f in await list_fields(session, actor) if personal or not f.personal]
    statuses = await statuses_by_id(session, actor.account_id)
    columns = BASIC + (PERSONAL if personal else []) + DETAILED + (SECRET if personal else [])
    header = [label for _, label in columns] + [f.name for f in fields]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    yield "\ufeff" + buffer.getvalue()
    sids: dict[int, int] = {}
    last_id = 0
    while True:
        rows = list(
            await session.scalars(
                select(Staff)
                .where(Staff.account_id == actor.account_id, Staff.id > last_id)
                .order_by(Staff.id)
                .limit(BATCH)
            )
        )
        if not rows:
            break
        last_id = rows[-1].id
        managers = {m for m in (r.manager_id for r in rows) if m and m not in sids}
        if managers:
            for staff_id, sid in await session.execute(
                select(Staff.id, Staff.sid).where(Staff.id.in_(managers))
            ):
                sids[staff_id] = sid
        values = await values_for_staff(session, actor.account_id, [r.id for r in rows])
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        for staff in rows:
            details = access.can_see_details(actor, staff.id, staff.restricted)
            line = []
            for key, _label in columns:
                if key in HIDDEN_WITHOUT_DETAILS and not details:
                    line.append("")
                elif key == "manager_sid":
                    line.append(neutralise(sids.get(staff.manager_id)))
                elif key == "status":
                    status = statuses.get(staff.status_id)
                    line.append(neutralise(status.name if status else None))
                elif key in ("ssn", "salary"):
                    line.append(neutralise(read_secret(keyring, staff, key)))
                elif key in ("created_at", "modified_at"):
                    line.append(getattr(staff, key).isoformat())
                else:
                    line.append(neutralise(getattr(staff, key)))
            by_field = {v.field.id: v.value for v in values.get(staff.id, [])}
            line += [neutralise(by_field.get(f.id)) if details else "" for f in fields]
            writer.writerow(line)
        session.expunge_all()  # keep the identity map from growing with the export
        yield buffer.getvalue()
