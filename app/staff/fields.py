"""The staff field table: every field of a staff record, once (see ``app.fields``).

Who sees a field (``app.staff.access``), the Staff GraphQL type's columns and what its
fields read (and so the hot plan's), the CSV export's columns and headers, the backup,
the audit log's redactions, who may write a field and how its input is cleaned all come
from ``STAFF``. Its order is the CSV export's column order.
"""

from __future__ import annotations

import re

from app.access import Role
from app.errors import DomainError, ErrorCode
from app.fields import (
    Audit,
    Backup,
    Clean,
    Field,
    FieldTable,
    Visibility,
    Write,
    camel,
    derived_key,
    register,
    rows,
)
from app.staff.models import StaffKind
from app.validation import clean_email, clean_text, clean_time_zone, number_of

BIGTIME_CATALOGUE = "bigtime"  # BigTime's staff API (app.rest) as optional_on_add names it
BIGTIME = frozenset({BIGTIME_CATALOGUE})
DEFAULT_CAPACITY = 160  # hours in a typical month: a record added without one
MAX_RATE = 1_000_000_000
MAX_CAPACITY = 744  # hours in a 31-day month
_PHONE = re.compile(r"^[0-9+()\-.\s/xX#*]{3,40}$|^(?:ext\.?\s*)?[0-9+()\-.\s]{3,40}$")
_SSN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 \-]{2,31}$")
ADDRESS_PARTS = {"street": 500, "city": 100, "state": 100, "zip": 20, "country": 100}
ADDRESS_LABELS = {
    "street": "The address's street",
    "city": "The address's city",
    "state": "The address's state",
    "zip": "The address's zip",
    "country": "The address's country",
}


# --- validators: (field, input value) -> the value to store, or a DomainError ------------
# Errors name the field by its domain name; messages by its API name unless told.


def _text(max_length: int, *, required: bool = False, label=None, multiline=False) -> Clean:
    def clean(field: Field, value):
        return clean_text(
            value,
            field.name,
            max_length=max_length,
            required=required,
            label=label or field.api,
            multiline=multiline,
        )

    return clean


def _number(maximum: float = MAX_RATE) -> Clean:
    def clean(field: Field, value):
        if isinstance(value, str):  # a number's text (a CSV cell), as every surface reads one
            text, value = value, number_of(value)
            if value is None and text.strip():
                raise DomainError("Must be a number.", field=[field.name])
        if value is None:
            return None
        if value != value or value in (float("inf"), float("-inf")):
            raise DomainError("Must be a finite number.", field=[field.name])
        if value < 0:
            raise DomainError("Must not be negative.", field=[field.name])
        if value > maximum:
            raise DomainError(f"Must be at most {maximum:g}.", field=[field.name])
        return round(float(value), 2)

    return clean


def _as_is(field: Field, value):
    """References and dates: the service checks them against the database."""
    return value


def _email(field: Field, value):
    return clean_email(value, field.name)


def _phone(field: Field, value):
    value = clean_text(value, field.name, max_length=40, label=field.api)
    if value is not None and not _PHONE.match(value):
        raise DomainError("Enter a valid phone number.", field=[field.name])
    return value


def _address(field: Field, value):
    """The parts given (a dict), each cleaned; null clears every part."""
    if value is None:
        return {part: None for part in ADDRESS_PARTS}
    return {
        part: clean_text(
            value.get(part),
            [field.name, part],
            max_length=limit,
            label=ADDRESS_LABELS[part],
            multiline=part == "street",
        )
        for part, limit in ADDRESS_PARTS.items()
        if part in value
    }


def _ssn(field: Field, value):
    ssn = clean_text(value, field.name, max_length=32, label=field.api)
    if ssn is not None and not _SSN.match(ssn):
        raise DomainError("Enter a valid SSN or national id.", field=[field.name])
    return ssn


_salary = _number()


def _capacity(field: Field, value):
    if value is None:
        raise DomainError("Capacity is required.", field=[field.name], code=ErrorCode.REQUIRED)
    return _number(MAX_CAPACITY)(field, value)


def _hour_rate_type(field: Field, value):
    if value is not None and not 0 <= value <= 1000:
        raise DomainError("Must be between 0 and 1000.", field=[field.name])
    return value


def _time_zone(field: Field, value):
    return clean_time_zone(value, field.name, label=field.api)


def _flag(field: Field, value):
    if value is None:
        raise DomainError("Must be true or false.", field=[field.name])
    return bool(value)


def _org_id(field: Field, value):
    if value is not None and not 0 <= value <= 2_147_483_647:
        raise DomainError("Must be between 0 and 2147483647.", field=[field.name])
    return value


def _external_id(field: Field, value):
    return clean_text(value, field.name, max_length=255, label="External id")


def _kind(field: Field, value):
    if value is None:
        raise DomainError("Kind is required.", field=[field.name], code=ErrorCode.REQUIRED)
    return StaffKind(value)


def _role(field: Field, value):
    return Role(value) if value is not None else Role.VIEWER


# --- the table -------------------------------------------------------------------------

_SAME = object()


def _f(name, visibility, write=Write.NOBODY, clean=None, *, api=_SAME, csv=_SAME, **options):
    """A row whose API name and CSV header are its name in camelCase unless told."""
    api = camel(name) if api is _SAME else api
    columns = options.get("columns") or (name,)
    if csv is _SAME:
        csv = (api,) if len(columns) == 1 else tuple(camel(c) for c in columns)
    return Field(name, visibility, api=api, csv=csv or (), write=write, clean=clean, **options)


STAMPS = ("modified_at", "details_modified_at", "personal_modified_at", "secret_modified_at")

C, B, D, P, S, INTERNAL = (
    Visibility.CARD,
    Visibility.BASIC,
    Visibility.DETAILED,
    Visibility.PERSONAL,
    Visibility.SECRET,
    Visibility.INTERNAL,
)
EDITORS, ADMINISTRATORS = Write.EDITORS, Write.ADMINISTRATORS

STAFF = FieldTable(
    "staff",
    [
        # bookkeeping, never shown as data
        Field("id", INTERNAL),  # shown as the global id (Staff.id)
        Field("account_id", INTERNAL),
        Field("user_id", INTERNAL),  # shown as Staff.hasLogin
        derived_key("last_name_key"),
        Field("tokens_valid_from", INTERNAL),
        # the basic profile; its name card (C: the record's number, name, title, kind) is
        # what guests see of the people on their projects (the sid is the record's key on
        # every surface: BigTime's StaffSid, the key of its Basic view, seed 004)
        _f("sid", C),
        # required in Roster; BigTime's catalogue (seed 004) requires only the last name
        # (FName has no "*"), so a BigTime add may leave it out: stored empty
        _f(
            "first_name",
            C,
            EDITORS,
            _text(100, required=True, label="First name"),
            optional_on_add=BIGTIME,
        ),
        _f("last_name", C, EDITORS, _text(100, required=True, label="Last name")),
        _f("title", C, EDITORS, _text(200)),
        _f("company", B, EDITORS, _text(200)),
        _f("manager_id", B, EDITORS, _as_is, api="manager", csv=("managerSid",)),
        # set when the record is added (within one's own role), then by staffRoleChange
        _f("role", B, Write.NOBODY, _role),
        _f("kind", C, EDITORS, _kind),
        _f("account_status", B),
        _f("is_inactive", B, EDITORS, _flag),
        _f(
            "restricted",
            B,
            ADMINISTRATORS,
            _flag,
            denied="Only administrators restrict or unrestrict records.",
            create=EDITORS,
        ),
        _f("notes", B, EDITORS, _text(10_000, multiline=True)),
        _f("created_at", B),
        # when the record last changed, as its reader sees it: the latest change to a
        # field they see (the card or profile, the details, the personal data, the SSN
        # or salary), each class's time in a column of its own (``app.staff.stamps``)
        _f("modified_at", B, audit=Audit.IGNORED, latest_of=STAMPS),
        _f("default_project_role_id", B, EDITORS, _as_is, api="defaultProjectRole", csv=None),
        # the person's id in an identity provider or HR system (unique in the account)
        _f(
            "external_id",
            B,
            ADMINISTRATORS,
            _external_id,
            denied="Only administrators set external ids.",
        ),
        # when the details, the personal data, and the SSN or salary last changed
        *(
            _f(name, visibility, audit=Audit.IGNORED, api=None, csv=None, backup=backup)
            for name, visibility, backup in (
                ("details_modified_at", D, None),
                ("personal_modified_at", P, None),
                ("secret_modified_at", S, Backup.WITH_PERSONAL_DATA),
            )
        ),
        # personal data
        _f("email", P, EDITORS, _email),
        _f("phone_cell", P, EDITORS, _phone),
        _f("phone_work", P, EDITORS, _phone),
        _f("phone_home", P, EDITORS, _phone),
        _f(
            "address",
            P,
            EDITORS,
            _address,
            columns=tuple(f"address_{part}" for part in ADDRESS_PARTS),
        ),
        # details
        _f("status_id", D, EDITORS, _as_is, api="status", csv=("status",)),
        _f("start_date", D, EDITORS, _as_is),
        _f("term_date", D, EDITORS, _as_is),
        _f("capacity", D, EDITORS, _capacity, number=True),
        _f("cost_factor", D, EDITORS, _number(), number=True),
        _f("hour_rate_type", D, EDITORS, _hour_rate_type, number=True),
        *(_f(f"rate{i}", D, EDITORS, _number(), number=True) for i in range(1, 6)),
        _f("home_timezone", D, EDITORS, _time_zone),
        # payroll and billing settings of BigTime's staff catalogue
        _f("use_payroll_item", D, EDITORS, _flag),
        _f("staff_org_id", D, EDITORS, _org_id, number=True),
        _f("post_time_as_billed", D, EDITORS, _flag),
        # secret: personal data that also needs the details, encrypted at rest
        _f("ssn", S, EDITORS, _ssn, columns=("ssn_encrypted",), encrypted=True),
        _f(
            "salary",
            S,
            EDITORS,
            _salary,
            columns=("salary_encrypted",),
            encrypted=True,
            number=True,
        ),
    ],
)

STAFF_STATUSES = FieldTable(
    "staff_statuses",
    [*rows(INTERNAL, "id", "account_id"), *rows(B, "name", "archived", "created_at")]
    + [derived_key("name_key")],
)
STAFF_SHARES = FieldTable(
    "staff_shares",
    [*rows(INTERNAL, "staff_id", "shared_with_id", "account_id"), Field("created_at", B)],
)
STAFF_PERMIT_GRANTS = FieldTable(
    "staff_permit_grants",
    [*rows(INTERNAL, "staff_id", "account_id"), *rows(B, "permit", "created_at")],
)

ENDED_MEMBERSHIPS = FieldTable(
    "ended_memberships",
    rows(
        INTERNAL, "account_id", "user_id", "ended_at", audit=Audit.IGNORED, backup=Backup.LEFT_OUT
    ),
)

register(STAFF, STAFF_STATUSES, STAFF_SHARES, STAFF_PERMIT_GRANTS, ENDED_MEMBERSHIPS)
