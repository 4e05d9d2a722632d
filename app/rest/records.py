"""Staff records as BigTime's JSON objects, and BigTime's JSON as staff field changes,
by ``app.rest.fields.CATALOGUE``. Pure translation: who sees a field is
``app.staff.access``; what a value may be is the staff field table's (on write)."""

from __future__ import annotations

import math
from datetime import date, datetime

from app.access import Actor
from app.rest.fields import ADDRESS_FIELDS, BY_KEY, BigTimeField, Type, View, in_view
from app.security.crypto import Keyring
from app.staff import access, stamps
from app.staff.service import read_secret
from app.validation import date_of, integer_of, number_of

INT_RANGE = (-(2**31), 2**31 - 1)
MAX_EXACT = 2**53  # past it, a JSON integer is no float (and may be too large for one)


def _iso(value):
    return value.isoformat() if isinstance(value, date | datetime) else value


def number(value):
    """A number field's value as JSON, the same from every route and database (a row just
    written holds floats, one read back what the driver gives): a whole value as an integer
    (BigTime's catalogue types Capacity and Rate1-5 Integer), hundredths as a decimal."""
    if value is None:
        return None
    value = float(value)
    return int(value) if value.is_integer() else value


def render(
    row,
    actor: Actor,
    view: View,
    keyring: Keyring,
    *,
    manager_sids: dict[int, int],
    udfs: list | None = None,
) -> dict:
    """The record as ``actor`` sees it in ``view``: fields they may not see are left out."""
    out: dict = {}
    for f in in_view(view):
        if f.type is Type.UDFS:
            if udfs is not None:
                out[f.name] = [udf(field, value) for field, value in udfs]
            continue
        assert f.field is not None
        if not access.can_see_field(actor, row.id, row.restricted, f.field):
            continue
        if f.type is Type.ADDRESS:
            out[f.name] = {"Id": row.sid} | {
                name: getattr(row, f"address_{part}") for name, part in ADDRESS_FIELDS.items()
            }
        elif f.field in ("ssn", "salary"):
            secret = read_secret(keyring, row, f.field)
            out[f.name] = number(secret) if f.type is Type.NUMBER else secret
        elif f.field == stamps.SHOWN_STAMP:  # the latest change the actor sees
            out[f.name] = _iso(stamps.latest_seen(actor, row))
        elif f.sid_of:
            manager_id = getattr(row, f.field)
            out[f.name] = manager_sids.get(manager_id) if manager_id is not None else None
        elif f.type is Type.NUMBER:
            out[f.name] = number(getattr(row, f.field))
        else:
            out[f.name] = _iso(f.encode(getattr(row, f.field)))
    return out


def udf(field, value: str | None, staff_sid: int | None = None) -> dict:
    """A Staffer Custom Field object."""
    out = {"Sid": field.id, "Name": field.name, "Value": value if value is not None else ""}
    if staff_sid is not None:
        out["StaffSid"] = staff_sid
    return out


class BadInput(Exception):
    """A request body that is not what the catalogue describes (400): (field, message)s."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))
        self.problems = problems


# Numbers and dates sent as text are read as every surface reads them (``number_of``,
# ``date_of``): "٣", "1_000", "nan" and "2024-01-02garbage" are refused.
_DATE_FORMAT = "must be a date (YYYY-MM-DD, or YYYY-MM-DDThh:mm:ss)"


def _value(f: BigTimeField, value):
    """BigTime's JSON value of ``f`` as the domain's type (ValueError: the reason)."""
    if value is None:
        return None
    if f.codes:
        return f.decode(value)
    match f.type:
        case Type.INTEGER:
            if isinstance(value, str) and (number := integer_of(value)) is not None:
                value = number
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("must be an integer")
            if not INT_RANGE[0] <= value <= INT_RANGE[1]:
                raise ValueError("is out of range")
            return value
        case Type.NUMBER:
            if isinstance(value, str):
                if (decimal := number_of(value)) is None:
                    raise ValueError("must be a number")
                value = decimal
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("must be a number")
            if isinstance(value, int) and abs(value) > MAX_EXACT:  # no float holds it
                raise ValueError("is out of range")
            if not math.isfinite(value):
                raise ValueError("must be a finite number")
            return value
        case Type.STRING:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ValueError("must be a string")
            return str(value)
        case Type.BOOLEAN:
            if isinstance(value, bool):
                return value
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.strip().casefold() in ("true", "false"):
                return value.strip().casefold() == "true"
            raise ValueError("must be true or false")
        case Type.DATE:
            day = date_of(value) if isinstance(value, str) else None
            if day is None:
                raise ValueError(_DATE_FORMAT)
            return day
        case Type.ADDRESS:
            if not isinstance(value, dict):
                raise ValueError("must be an Address object")
            parts = {k.casefold(): v for k, v in value.items()}
            out = {}
            for name, part in ADDRESS_FIELDS.items():
                if name.casefold() in parts:
                    given = parts[name.casefold()]
                    if given is not None and not isinstance(given, str):
                        raise ValueError(f"{name} must be a string")
                    out[part] = given
            return out
    raise ValueError("cannot be written")  # pragma: no cover


def changes_from(body) -> tuple[dict, dict]:
    """The staff field changes a POST of the Update view asks for, and the references by
    StaffSid to resolve (field -> sid). Names are case-insensitive; fields not in the
    Update view are ignored."""
    if not isinstance(body, dict):
        raise BadInput([("body", "must be a JSON object of Staff fields")])
    changes: dict = {}
    sids: dict = {}
    problems: list[tuple[str, str]] = []
    for key, value in body.items():
        f = BY_KEY.get(key.casefold()) if isinstance(key, str) else None
        if f is None or View.UPDATE not in f.views or f.field is None:
            continue
        try:
            converted = _value(f, value)
        except ValueError as exc:
            problems.append((f.name, f"{f.name} {exc}."))
            continue
        if f.sid_of and converted is not None:
            sids[f.field] = converted
        else:
            changes[f.field] = converted
    if problems:
        raise BadInput(problems)
    return changes, sids


def missing_required(body: dict) -> list[tuple[str, str]]:
    """Fields the catalogue requires on add ("*") that the body lacks or leaves blank."""
    given = {k.casefold(): v for k, v in body.items() if isinstance(k, str)}
    return [
        (f.name, f"{f.name} is required.")
        for f in in_view(View.UPDATE)
        if f.required and given.get(f.name.casefold()) in (None, "")
    ]
