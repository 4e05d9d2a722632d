"""BigTime's staff catalogue as data: each BigTime field name, the staff field it is
(a row of ``app.staff.fields.STAFF``), its JSON type and the views it appears in.

Everything the REST adapter shows, reads from a request body, and documents in its OpenAPI
document comes from ``CATALOGUE``: who sees a field, who writes it and how its value is
checked stay the staff field table's (``app.staff.access``, ``app.staff.service``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.access import Role
from app.staff.models import StaffKind


class View(enum.StrEnum):
    BASIC = "Basic"  # the listing's view ("simple" in places), and the detail's default
    DETAILED = "Detailed"
    UPDATE = "Update"  # what a POST may set (AddUpdate in the catalogue)


class Type(enum.StrEnum):
    INTEGER = "integer"
    NUMBER = "number"
    STRING = "string"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "date-time"
    ADDRESS = "address"  # an Address object (ADDRESS_PARTS)
    UDFS = "udfs"  # the record's custom fields (UdfList)


B, D, U = View.BASIC, View.DETAILED, View.UPDATE


@dataclass(frozen=True)
class BigTimeField:
    name: str  # BigTime's name, as the catalogue spells it (matched case-insensitively)
    field: str | None  # the staff field (STAFF row); None: the custom fields
    type: Type
    views: frozenset[View]
    description: str = ""
    required: bool = False  # on add ("*" in the catalogue)
    codes: tuple[tuple[int, str], ...] = ()  # BigTime's integer <-> the domain's value
    sid_of: bool = False  # the value is another record's StaffSid (the domain: its id)

    def encode(self, value):
        """The domain's value as BigTime shows it (a code for coded fields)."""
        if self.codes and value is not None:
            return next((code for code, name in self.codes if name == str(value)), None)
        return value

    def decode(self, value):
        """BigTime's code (or the domain's own name) as the domain's value."""
        if not self.codes or value is None:
            return value
        if isinstance(value, bool):  # True == 1 in Python; JSON's true is no code
            raise ValueError(f"must be one of {', '.join(str(c) for c, _ in self.codes)}")
        for code, name in self.codes:
            if value == code or (isinstance(value, str) and value.upper() == name):
                return name
        raise ValueError(f"must be one of {', '.join(str(c) for c, _ in self.codes)}")


def _row(name, field, type_, *views, description="", **options) -> BigTimeField:
    return BigTimeField(name, field, type_, frozenset(views), description, **options)


# Roster's kinds and assignable roles as BigTime's integer picklist values.
STAFF_TYPES: tuple[tuple[int, str], ...] = (
    (1, StaffKind.EMPLOYEE),
    (2, StaffKind.CONTRACTOR),
    (3, StaffKind.CUSTOMER),
    (4, StaffKind.VENDOR),
)
SECURITY_GROUPS: tuple[tuple[int, str], ...] = (
    (1, Role.ADMINISTRATOR),
    (2, Role.EDITOR),
    (3, Role.VIEWER),
    (4, Role.GUEST),
)

_RATE = "Staff billing rate (up to 5 per staff member)."

CATALOGUE: tuple[BigTimeField, ...] = (
    _row("StaffSid", "sid", Type.INTEGER, B, D, description="Unique SID of this record."),
    _row("FName", "first_name", Type.STRING, B, D, U, description="First (given) name."),
    _row(
        "SName", "last_name", Type.STRING, B, D, U, description="Last (family) name.", required=True
    ),
    _row("Title", "title", Type.STRING, B, D, U, description="Business title or position."),
    _row(
        "ManagerID",
        "manager_id",
        Type.INTEGER,
        B,
        D,
        U,
        description="The StaffSid of the staffer's manager.",
        sid_of=True,
    ),
    _row("Address", "address", Type.ADDRESS, B, D, U, description="The address (personal)."),
    _row(
        "EMail",
        "email",
        Type.STRING,
        B,
        D,
        U,
        description="Primary email address (personal).",
        required=True,
    ),
    _row("Phone_Cell", "phone_cell", Type.STRING, B, D, U, description="Primary phone (personal)."),
    _row("Phone_Wk", "phone_work", Type.STRING, B, D, U, description="Work phone (personal)."),
    _row("Phone_Hm", "phone_home", Type.STRING, B, D, U, description="Home phone (personal)."),
    _row("Notes", "notes", Type.STRING, B, D, U, description="Free-form notes."),
    _row("IsInactive", "is_inactive", Type.BOOLEAN, B, D, U, description="Inactive staffer."),
    _row("Status", "status_id", Type.INTEGER, D, U, description="Staff status id."),
    _row("Start_dt", "start_date", Type.DATE, D, U, description="Start date (default today)."),
    _row("Term_dt", "term_date", Type.DATE, D, U, description="Termination date."),
    _row(
        "UsePayrollItem",
        "use_payroll_item",
        Type.BOOLEAN,
        D,
        U,
        description="Post payroll item data to the accounting system with timesheets.",
    ),
    _row("Capacity", "capacity", Type.NUMBER, B, D, U, description="Hours in a typical month."),
    _row("CostFactor", "cost_factor", Type.NUMBER, D, U, description="Cost factor."),
    _row("HourRateType", "hour_rate_type", Type.INTEGER, D, U, description="Hour rate type."),
    *(_row(f"Rate{i}", f"rate{i}", Type.NUMBER, D, U, description=_RATE) for i in range(1, 6)),
    _row("StaffOrgId", "staff_org_id", Type.INTEGER, D, U, description="Organisation number."),
    _row(
        "StaffType",
        "kind",
        Type.INTEGER,
        D,
        U,
        description="1 employee, 2 contractor, 3 customer, 4 vendor.",
        codes=STAFF_TYPES,
    ),
    _row("HomeTimezone", "home_timezone", Type.STRING, D, U, description="IANA time zone."),
    _row("DtCreated", "created_at", Type.DATETIME, B, D, description="Created (UTC)."),
    _row("DtModified", "modified_at", Type.DATETIME, B, D, description="Last modified (UTC)."),
    _row(
        "SecurityGroup",
        "role",
        Type.INTEGER,
        U,
        description="Role on add: 1 administrator, 2 editor, 3 viewer, 4 guest.",
        codes=SECURITY_GROUPS,
    ),
    _row(
        "DefaultRole",
        "default_project_role_id",
        Type.INTEGER,
        B,
        D,
        U,
        description="Project team role id.",
    ),
    _row("UdfList", None, Type.UDFS, D, description="The staffer's custom fields."),
    _row("SSN", "ssn", Type.STRING, D, U, description="Social security number (personal)."),
    _row("Salary", "salary", Type.NUMBER, D, U, description="Salary (personal)."),
    _row(
        "PostTimeAsBilled",
        "post_time_as_billed",
        Type.BOOLEAN,
        D,
        description="Time is posted into a vendor bill.",
    ),
)

# Staff fields with an API name that BigTime's catalogue has no field for.
NOT_IN_CATALOGUE = frozenset({"company", "account_status", "restricted", "external_id"})

# The Address object's fields: BigTime's name -> the address part (its Id is the StaffSid:
# a record has one address).
ADDRESS_FIELDS = {"Address": "street", "City": "city", "State": "state", "Zip": "zip"}
ADDRESS_FIELDS |= {"Country": "country"}

BY_KEY = {f.name.casefold(): f for f in CATALOGUE}
BY_FIELD = {f.field: f for f in CATALOGUE if f.field is not None}


def in_view(view: View) -> list[BigTimeField]:
    return [f for f in CATALOGUE if view in f.views]


# The custom field service's error paths (values.<index>.field_id / .value) as the
# UDFList body names them.
UDF_PARTS = {"values": "UDFList", "field_id": "Sid", "value": "Value", "staff_id": "StaffSid"}


def udf_path(path: str) -> str:
    """A custom field value error's path as BigTime's UDFList body names it."""
    return ".".join(UDF_PARTS.get(part, part) for part in path.split("."))


def bigtime_name(field: str) -> str:
    """A domain field name (an error's path) as BigTime names it."""
    row = BY_FIELD.get(field.split(".")[0])
    return row.name if row is not None else field
