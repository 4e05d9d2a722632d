"""The SCIM resources Roster serves, as scim2-models models: a User schema cut down to the
attributes a staff record has a home for (what is published is what round-trips), and the
enterprise extension's manager; and Groups, which are the account's projects. Not kept,
so not published: employeeNumber (Roster numbers
its people itself; that number is the SCIM id), department (``company`` is the outside
organisation a contractor or vendor belongs to, not a department), costCenter,
organization, division.

Mapping, as data: SCIM attribute -> staff field (``app.staff.fields``)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, ValidationError
from scim2_models import (
    URN,
    CaseExact,
    ComplexAttribute,
    Context,
    Extension,
    Mutability,
    PatchOp,
    Path,
    Reference,
    Required,
    Resource,
    SCIMException,
    Uniqueness,
)

from app.db.base import id_from_digits

# Sub-attributes Roster does not keep are read-only: accepted from identity providers,
# which send them, and ignored.
Ignored = Annotated[str | None, Mutability.read_only]
IgnoredFlag = Annotated[bool | None, Mutability.read_only]


class Name(ComplexAttribute):
    formatted: Ignored = None
    family_name: Annotated[str | None, Required.true] = None
    given_name: Annotated[str | None, Required.true] = None


class Email(ComplexAttribute):
    value: str | None = None
    type: Ignored = None
    primary: IgnoredFlag = None
    display: Ignored = None


class PhoneNumber(ComplexAttribute):
    value: str | None = None
    type: str | None = None
    primary: IgnoredFlag = None
    display: Ignored = None


class Address(ComplexAttribute):
    street_address: str | None = None
    locality: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    formatted: Ignored = None
    # Roster's one address is the work address (RFC 7643 §4.1.2's canonical "work")
    type: str | None = None
    primary: IgnoredFlag = None


class Manager(ComplexAttribute):
    value: Annotated[str | None, CaseExact.true] = None
    display_name: Ignored = None


class EnterpriseUser(Extension):
    __schema__ = URN("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
    manager: Manager | None = None


class User(Resource[EnterpriseUser]):
    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")
    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    name: Annotated[Name | None, Required.true] = None
    display_name: Annotated[str | None, Mutability.read_only] = None
    title: str | None = None
    active: bool | None = None
    # the login email, which is userName: written through userName (``email_operations``)
    emails: Annotated[list[Email] | None, Mutability.read_only] = None
    phone_numbers: list[PhoneNumber] | None = None
    addresses: list[Address] | None = None


class _ReplacedName(Name):
    family_name: Annotated[str | None, Required.false] = None
    given_name: Annotated[str | None, Required.false] = None


class Replacement(User):
    """A PUT's body: a User whose name may be left out, in part or whole. RFC 7644 §3.5.1
    has a client send the required attributes, but a record made without names (an
    invitation without them, BigTime's add without FName) has none to send back, and its
    GET leaves them out. Whether a name may be left out is the staff record's rule
    (``app.staff.service.update_staff``): one the record lacks stays empty, as
    staffUpdate leaves it; one it has may not be cleared ("First name is required.").
    The published schema stays User's (a new User is sent with its names)."""

    name: Annotated[_ReplacedName | None, Required.false] = None


# SCIM phoneNumbers.type -> the staff field holding that number (others are refused)
PHONE_TYPES: dict[str, str] = {"work": "phone_work", "mobile": "phone_cell", "home": "phone_home"}
# addresses sub-attribute (the model's name, the JSON name) -> part of the staff address
ADDRESS_PARTS: dict[tuple[str, str], str] = {
    ("street_address", "streetAddress"): "street",
    ("locality", "locality"): "city",
    ("region", "region"): "state",
    ("postal_code", "postalCode"): "zip",
    ("country", "country"): "country",
}


ADDRESS_TYPE = "work"
"""The type of the one address Roster keeps (Entra ID maps its address to type work)."""

# an operation's path that selects a value of a multi-valued attribute by its type
_BY_TYPE = re.compile(
    r'^\s*(?:urn:ietf:params:scim:schemas:core:2\.0:user:)?(addresses|phonenumbers)'
    r'\[\s*type\s+eq\s+"([^"]*)"\s*\]',
    re.IGNORECASE,
)


def seed_typed_values(current: dict, body: dict) -> None:
    """Give ``current`` (a rendered User) an empty value of each type that a PatchOp's
    ``add`` selects by type and Roster keeps but the User has not: the work address, a
    work, mobile or home number. Entra ID adds ``addresses[type eq "work"].locality`` and
    ``phoneNumbers[type eq "work"].value`` to a user who has none, and RFC 7644 §3.5.2.1
    has add create what is not there."""
    for operation in body.get("Operations") or []:
        if not isinstance(operation, dict) or str(operation.get("op", "")).casefold() != "add":
            continue
        found = _BY_TYPE.match(str(operation.get("path") or ""))
        if found is None:
            continue
        attribute, kind = found[1].casefold(), found[2].casefold()
        if attribute == "addresses":
            key, held = "addresses", kind == ADDRESS_TYPE
        else:
            key, held = "phoneNumbers", kind in PHONE_TYPES
        values = current.setdefault(key, [])
        if held and not any(str(v.get("type", "")).casefold() == kind for v in values):
            values.append({"type": kind})


class BadValue(Exception):
    """A value Roster cannot hold (400 invalidValue, or ``scim_type``)."""

    def __init__(self, detail: str, scim_type: str = "invalidValue"):
        super().__init__(detail)
        self.scim_type = scim_type


def render(row, manager_sid: int | None, location: str, modified: datetime) -> dict:
    """A staff record as a SCIM User (the caller holds the scim scope: every field)."""
    full = " ".join(p for p in (row.first_name, row.last_name) if p) or None
    phones = [
        {"value": getattr(row, field), "type": kind}
        for kind, field in PHONE_TYPES.items()
        if getattr(row, field)
    ]
    address = {
        scim: getattr(row, f"address_{part}")
        for (_, scim), part in ADDRESS_PARTS.items()
        if getattr(row, f"address_{part}")
    }
    out: dict[str, Any] = {
        "schemas": [User.__schema__, EnterpriseUser.__schema__],
        "id": str(row.sid),
        "externalId": row.external_id,
        "userName": row.email,
        "name": {"givenName": row.first_name or None, "familyName": row.last_name or None},
        "displayName": full,
        "title": row.title,
        "active": row.account_status != "DISABLED",
        "emails": [{"value": row.email}] if row.email else None,
        "phoneNumbers": phones or None,
        "addresses": [{"type": ADDRESS_TYPE} | address] if address else None,
        EnterpriseUser.__schema__: {
            "manager": {"value": str(manager_sid)} if manager_sid is not None else None,
        },
        "meta": {
            "resourceType": "User",
            "created": row.created_at.isoformat(),
            "lastModified": modified.isoformat(),
            "location": location,
        },
    }
    return _prune(out)


def _prune(value):
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _email_in(value) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, dict) and v.get("primary")), None) or (
            value[0] if value else None
        )
    if isinstance(value, dict):
        value = value.get("value")
    return value if isinstance(value, str) else None


def with_user_name(body: dict) -> dict:
    """A POST or PUT body: without a userName, its (primary) email is the userName."""
    if not body.get("userName") and isinstance(body.get("emails"), list):
        email = _email_in(body["emails"])
        if email:
            return body | {"userName": email}
    return body


class _HeldEmail(ComplexAttribute):
    value: str | None = None
    type: str | None = None
    primary: bool | None = None
    display: str | None = None


class _Emails(Resource[Any]):
    """The emails of a User as a PATCH sees them, to apply ``emails`` operations to."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")
    emails: list[_HeldEmail] | None = None


PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ONE_EMAIL = (
    "Roster holds one email per person, the login email (userName, the primary work "
    "email): it cannot hold {what}."
)


def _is_emails(path) -> bool:
    if not isinstance(path, str):
        return False
    path = path.strip().casefold()
    core = f"{User.__schema__}:".casefold()
    return (path[len(core) :] if path.startswith(core) else path).startswith("emails")


def _login_after(operations: list[dict], login: str | None) -> str | None:
    """The login email once ``operations`` (on ``emails``) are applied to the one email
    Roster holds, ``{login, type work, primary}``: the value they leave, or None when they
    leave none (removing an email leaves the login email). Raises BadValue when they ask
    Roster to hold an email besides, or instead of, the primary work one."""
    emails = _Emails.model_validate(
        {"emails": [{"value": login, "type": "work", "primary": True}]}
    )
    for operation in operations:
        op = str(operation.get("op", "")).casefold()
        try:
            patch = PatchOp[_Emails].model_validate(
                {"schemas": [PATCH_OP], "Operations": [operation | {"op": op}]},
                scim_ctx=Context.RESOURCE_PATCH_REQUEST,
            )
            patch.patch(emails)
        except SCIMException as exc:
            if op == "remove":
                continue  # nothing of that kind is held: nothing to remove
            what = "an email of another type" if op == "add" else "the email named"
            scim_type = "invalidValue" if op == "add" else exc.scim_type or "invalidValue"
            raise BadValue(f"{ONE_EMAIL.format(what=what)} ({exc})", scim_type) from None
        except (ValidationError, ValueError) as exc:
            raise BadValue(f"emails: {exc}") from None
    held = emails.emails or []
    if len(held) == 2 and held[0].value == login and not held[0].primary and held[1].primary:
        # a primary email added: it replaces the one held (RFC 7644 §3.5.2 makes the
        # earlier primary value no longer primary, and Roster keeps only the primary)
        held = held[1:]
    if len(held) > 1:
        raise BadValue(ONE_EMAIL.format(what="a second email"))
    if not held or held[0].value is None:
        return None
    email = held[0]
    if email.primary is not True and (email.type or "work").casefold() != "work":
        raise BadValue(ONE_EMAIL.format(what=f"a {email.type} email that is not primary"))
    return email.value


def email_operations(body: dict, login: str | None) -> dict:
    """A PatchOp body whose operations on ``emails`` (Entra's default mapping writes
    ``emails[type eq "work"].value``) become one ``replace`` of userName, the one address
    Roster keeps (``login``), when they change it; removing an email leaves the login
    email as it is, and an email Roster cannot hold besides it (a home email) is refused
    (BadValue). A manager given as a bare id (as Entra sends it) becomes
    ``{"value": id}``."""
    operations = body.get("Operations")
    if not isinstance(operations, list):
        return body
    on_emails: list[dict] = []
    out: list = []
    for operation in operations:
        if not isinstance(operation, dict):
            out.append(operation)
            continue
        path = operation.get("path")
        if _is_emails(path):
            on_emails.append(operation)
            out.append(None)  # where userName is replaced, if it is
            continue
        value = operation.get("value")
        if (
            isinstance(path, str)
            and path.casefold().endswith(":manager")
            and isinstance(value, str)
        ):
            # Entra sends the manager's id alone
            operation = operation | {"value": {"value": value}}
        if path is None and isinstance(value, dict):
            keys = {k.casefold(): k for k in value}
            if "emails" in keys:
                value = dict(value)
                emails = value.pop(keys["emails"])
                on_emails.append({"op": operation.get("op"), "path": "emails", "value": emails})
                out.append(None)  # before the operation, whose own userName wins
                operation = operation | {"value": value}
        out.append(operation)
    email = _login_after(on_emails, login) if on_emails else None
    changed = email is not None and email != login
    at = max((i for i, o in enumerate(out) if o is None), default=None)
    return body | {
        "Operations": [
            {"op": "replace", "path": "userName", "value": email} if i == at else o
            for i, o in enumerate(out)
            if o is not None or (i == at and changed)
        ]
    }


def _ignored(path: str) -> bool:
    """Whether ``path`` names an attribute Roster accepts and ignores: one of the User's
    read-only attributes (displayName, ``Ignored`` sub-attributes such as name.formatted,
    addresses[type eq "work"].formatted, phoneNumbers.display), as a POST or PUT ignores
    it. Not ``emails`` (``email_operations``), nor what every resource has (id, meta),
    which a client may not write."""
    try:
        binding = Path[User](path).resolve()
    except SCIMException:
        return False
    if binding is None or binding.field_name in (*Resource.model_fields, "emails"):
        return False
    return Mutability.read_only in (
        binding.model.get_field_annotation(binding.field_name, Mutability),
        binding.get_annotation(Mutability),
    )


_GONE = object()  # a value that held only attributes Roster ignores


def _child(path: str, key) -> str | None:
    """The path of ``key`` in a value written at ``path`` ("" for the User itself), or
    None when it names no attribute."""
    if not isinstance(key, str):
        return None
    try:
        text = key if not path else f"{path}:{key}" if Path[User](path).model else f"{path}.{key}"
        Path[User](text)
    except SCIMException:
        return None
    return text


# No User attribute nests deeper than this (a complex attribute's list of objects);
# deeper values are left whole for validation to refuse, never walked to the recursion limit.
_DEEPEST = 8


def _without_ignored(path: str, value, depth: int = 0):
    """``value``, written at ``path``, without the attributes Roster ignores (``_GONE``
    when it held nothing else)."""
    if depth > _DEEPEST:
        return value
    if isinstance(value, list):
        items = [
            v for v in (_without_ignored(path, v, depth + 1) for v in value) if v is not _GONE
        ]
        return items if items or not value else _GONE
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        child = _child(path, key)
        if child is None:
            kept = item
        else:
            kept = _GONE if _ignored(child) else _without_ignored(child, item, depth + 1)
        if kept is not _GONE:
            out[key] = kept
    return out if out or not value else _GONE


def ignored_operations(body: dict) -> dict:
    """A PatchOp body without what Roster accepts and ignores (``_ignored``): operations
    on such an attribute (Entra ID replaces displayName and name.formatted with the
    names), and such attributes in the value of an ``add`` or ``replace`` (a valueless
    path's ``{"displayName": ..., "name": {"formatted": ...}}``). scim2-models refuses
    them (they are read-only), and the rest of the PATCH would be lost."""
    operations = body.get("Operations")
    if not isinstance(operations, list):
        return body
    out: list = []
    for operation in operations:
        if isinstance(operation, dict):
            path = operation.get("path")
            if isinstance(path, str) and _ignored(path):
                continue
            op = str(operation.get("op", "")).casefold()
            if op in ("add", "replace") and "value" in operation and isinstance(path, str | None):
                value = _without_ignored(path or "", operation["value"])
                if value is _GONE:
                    continue
                operation = operation | {"value": value}
        out.append(operation)
    return body | {"Operations": out}


def removes_active(body: dict) -> bool:
    """Whether a PatchOp removes ``active``: every record is enabled or disabled."""
    operations = body.get("Operations")
    return isinstance(operations, list) and any(
        isinstance(o, dict)
        and str(o.get("op", "")).casefold() == "remove"
        and str(o.get("path", "")).strip().casefold()
        in ("active", f"{User.__schema__}:active".casefold())
        for o in operations
    )


def changes_of(user: User, *, replace: bool) -> tuple[dict, str | None, bool | None]:
    """The staff field changes a User carries, the manager's SCIM id (or "" to clear it),
    and ``active``. ``replace``: attributes left out are cleared (PUT, PATCH)."""
    changes: dict[str, Any] = {}
    if user.user_name is not None or replace:
        changes["email"] = user.user_name
    name = user.name or Name()
    if replace or user.name is not None:
        changes["first_name"] = name.given_name or ""
        changes["last_name"] = name.family_name or ""
    if replace or user.title is not None:
        changes["title"] = user.title
    if replace or user.external_id is not None:
        changes["external_id"] = user.external_id
    if replace or user.phone_numbers is not None:
        phones = dict.fromkeys(PHONE_TYPES.values())
        for phone in user.phone_numbers or []:
            field = PHONE_TYPES.get((phone.type or "work").casefold())
            if field is None:
                raise BadValue(
                    f"phoneNumbers.type {phone.type!r}: Roster keeps work, mobile and home numbers."
                )
            if phones[field] is not None:
                raise BadValue(
                    f"phoneNumbers: two {phone.type or 'work'} numbers; Roster keeps one number "
                    "of each type (work, mobile, home)."
                )
            phones[field] = phone.value
        changes.update(phones)
    if replace or user.addresses is not None:
        if len(user.addresses or []) > 1:
            raise BadValue("Roster keeps one address per person, the work address.")
        given = (user.addresses or [Address()])[0]
        if (given.type or ADDRESS_TYPE).casefold() != ADDRESS_TYPE:
            raise BadValue(
                f"addresses.type {given.type!r}: Roster keeps one address per person, "
                "the work address."
            )
        changes["address"] = {
            part: getattr(given, name) for (name, _), part in ADDRESS_PARTS.items()
        }
    manager: str | None = None
    extension = user[EnterpriseUser]
    if extension is not None and extension.manager is not None:
        manager = extension.manager.value or ""
    elif replace:
        manager = ""
    return changes, manager, user.active


# --- Groups: the account's projects ------------------------------------------------------

GROUP_PREFIX = "p"
"""A Group's id is its project's id behind this letter, so it never reads as a User's id
(a staff record's sid, all digits)."""


class GroupMember(ComplexAttribute):
    value: Annotated[str | None, CaseExact.true] = None
    ref: Annotated[
        Reference[User] | None,
        Mutability.read_only,
    ] = Field(None, serialization_alias="$ref", validation_alias="$ref")
    type: Annotated[str | None, Mutability.read_only] = None
    display: Annotated[str | None, Mutability.read_only] = None


class Group(Resource[Any]):
    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:Group")
    display_name: Annotated[str | None, Required.true, Uniqueness.server] = None
    members: list[GroupMember] | None = None


def group_id(project_id: int) -> str:
    return f"{GROUP_PREFIX}{project_id}"


def number_of(value: str) -> int | None:
    """The number a SCIM id written by Roster is (a User's ``id``, a Group's after its
    prefix), or None when ``value`` is no such id. Ids are compared as strings (RFC 7643,
    3.1): "007" is not "7", and "²", a digit to ``str.isdigit``, is no number at all."""
    number = id_from_digits(value)
    return number if number is not None and str(number) == value else None


def project_id_of(value: str) -> int | None:
    """The project id a Group id names, or None when it names none."""
    return number_of(value[len(GROUP_PREFIX) :]) if value.startswith(GROUP_PREFIX) else None


def render_group(project, members: list, base: str) -> dict:
    """A project as a SCIM Group; ``members`` its staff records, ``base`` the SCIM root."""
    out: dict[str, Any] = {
        "schemas": [Group.__schema__],
        "id": group_id(project.id),
        "externalId": project.external_id,
        "displayName": project.name,
        "members": [
            {
                "value": str(staff.sid),
                "$ref": f"{base}/Users/{staff.sid}",
                "type": "User",
                "display": " ".join(p for p in (staff.first_name, staff.last_name) if p) or None,
            }
            for staff in members
        ],
        "meta": {
            "resourceType": "Group",
            "created": project.created_at.isoformat(),
            "lastModified": (project.modified_at or project.created_at).isoformat(),
            "location": f"{base}/Groups/{group_id(project.id)}",
        },
    }
    return _prune(out)


def member_operations(body: dict) -> dict:
    """A PatchOp body whose ``remove`` of ``members`` with a value list (what Entra ID
    sends) becomes one ``remove members[value eq "..."]`` per member named."""
    operations = body.get("Operations")
    if not isinstance(operations, list):
        return body
    out: list = []
    for operation in operations:
        if (
            isinstance(operation, dict)
            and str(operation.get("op", "")).casefold() == "remove"
            and str(operation.get("path", "")).strip().casefold() == "members"
            and isinstance(operation.get("value"), list)
        ):
            for member in operation["value"]:
                value = member.get("value") if isinstance(member, dict) else None
                if not isinstance(value, str):
                    raise BadValue("members to remove are named by their value.")
                quoted = value.replace("\\", "\\\\").replace('"', '\\"')
                out.append({"op": "remove", "path": f'members[value eq "{quoted}"]'})
            continue
        out.append(operation)
    return body | {"Operations": out}
