"""Which events a change makes: the event types, and the rules that read them off the rows
a unit of work wrote.

The rows come from ``app.audit.changes`` (the ORM's own history of every flush), so a new
mutation emits its events without anyone remembering to call a function, exactly as it is
audited. Each rule here is data over one table: the table's inserts, deletes and the
columns whose change means something. Field names are the field tables' domain names
(``app.fields``), or for rows that hang off a staff record the names of ``STAFF_LINKS``;
each has its row (``field_of``), whose class says who may learn that it changed: consumers
(subscriptions, webhooks) show them by their API names and hide from whoever may not see
them. A name no row names is an error, never shown.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from app.fields import NEEDS_PERSONAL_DATA, Audit, Field, FieldTable, UnknownField, Visibility
from app.fields import table as field_table


class EventType(enum.StrEnum):
    STAFF_CREATED = "staff.created"
    STAFF_UPDATED = "staff.updated"
    STAFF_DISABLED = "staff.disabled"
    STAFF_ENABLED = "staff.enabled"
    STAFF_DELETED = "staff.deleted"
    STAFF_ROLE_CHANGED = "staff.role_changed"
    MEMBER_JOINED = "member.joined"
    MEMBER_LEFT = "member.left"
    INVITATION_CREATED = "invitation.created"
    INVITATION_RESENT = "invitation.resent"
    INVITATION_ACCEPTED = "invitation.accepted"
    INVITATION_REVOKED = "invitation.revoked"
    INVITATION_EXPIRED = "invitation.expired"
    JOIN_REQUEST_CREATED = "join_request.created"
    JOIN_REQUEST_DECIDED = "join_request.decided"
    CUSTOM_FIELD_CREATED = "custom_field.created"
    CUSTOM_FIELD_UPDATED = "custom_field.updated"
    CUSTOM_FIELD_DELETED = "custom_field.deleted"
    ACCOUNT_PLAN_CHANGED = "account.plan_changed"
    ACCOUNT_OWNER_CHANGED = "account.owner_changed"


# The record type each event is about (its ``subject_type``), by the event type's prefix.
SUBJECTS = {
    "staff": "Staff",
    "member": "Staff",
    "invitation": "Invitation",
    "join_request": "JoinRequest",
    "custom_field": "CustomField",
    "account": "Account",
}


def subject_of(event_type: EventType) -> str:
    return SUBJECTS[event_type.value.split(".")[0]]


# The field table of each subject's record type: the rows of the field names its events carry.
SUBJECT_TABLES = {
    "Staff": "staff",
    "Invitation": "invitations",
    "JoinRequest": "join_requests",
    "CustomField": "custom_fields",
    "Account": "accounts",
}

# The names a staff update gives to changes of the rows that hang off the record (they are
# no column of it), each with its API name (the Staff field that shows those rows) and its
# class, as a field of that class of the record: who may learn that they changed. Values of
# a personal custom field (its definition's ``personal``, the rule by which the directory
# hides them: ``app.custom_fields.service.can_see_value``) are personal data that also
# needs the details, like SSN and salary; those of other custom fields are details. Who
# sees shares and permit grants also takes a permit of its own
# (``app.events.visibility``); neither is personal data.
STAFF_LINKS = FieldTable(
    "staff links",
    [
        Field("custom_fields", Visibility.DETAILED, api="customFields"),
        Field("personal_custom_fields", Visibility.SECRET, api="customFields"),
        Field("shared_with", Visibility.BASIC, api="sharedWith"),
        Field("permits", Visibility.BASIC, api="permits"),
    ],
)


def field_of(subject_type: str, name: str) -> Field:
    """The row of a field name an event about ``subject_type`` carries: a field of the
    subject's field table, or for staff a link (``STAFF_LINKS``). A name neither names,
    or a bookkeeping field, is an error (UnknownField), never shown."""
    if subject_type == "Staff" and name in STAFF_LINKS:
        return STAFF_LINKS[name]
    try:
        table = SUBJECT_TABLES[subject_type]
    except KeyError:
        raise UnknownField(f"events about {subject_type!r} name no fields") from None
    row = field_table(table)[name]
    if row.visibility is Visibility.INTERNAL:
        raise UnknownField(f"{table}.{name} is bookkeeping, never named by an event")
    return row


def is_personal(row: Field) -> bool:
    """Whether learning that ``row``'s field changed takes ViewPersonalData (its class):
    webhooks (``app.webhooks.service``) and the audit log (``app.audit.service``) leave
    it out for whoever does not hold the permit."""
    return row.visibility in NEEDS_PERSONAL_DATA


@dataclass(frozen=True)
class Facts:
    """What the rules need to know besides the rows: read by the caller in the unit of
    work's transaction, after its flushes (``facts_needed`` says what to read)."""

    # the custom fields whose values are not personal (definitions not personal); a value
    # of any other field is personal: an unknown definition is never taken as open
    open_custom_fields: frozenset[int] = frozenset()


def facts_needed(changes: list[dict]) -> set[int]:
    """The ids of the custom fields whose values the changes touch: whether each is
    personal is a fact the rules need (``Facts.open_custom_fields``)."""
    return {
        change["key"][1] for change in changes if change["table"] == "custom_field_values"
    }


@dataclass
class Derived:
    """One event read off the rows: its type, what it is about, and what it names."""

    type: EventType
    subject_id: int
    fields: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def data(self) -> dict:
        return {"fields": self.fields, **self.extra} if self.fields else dict(self.extra)


def changed_fields(table: str, change: dict, leave: Iterable[str] = ()) -> list[str]:
    """The field names of the columns a row change touched, bookkeeping left out."""
    rows = field_table(table)
    names: list[str] = []
    for column in change["fields"]:
        row = rows.column(column)
        if row.audited is Audit.IGNORED or row.visibility is Visibility.INTERNAL:
            continue
        if row.name not in names and row.name not in leave:
            names.append(row.name)
    return names


def _moved(change: dict, column: str) -> tuple[object, object] | None:
    values = change["fields"].get(column)
    if values is None or values[0] == values[1]:
        return None
    return values[0], values[1]


Rule = Callable[[dict, Facts], list[Derived]]


# --- staff --------------------------------------------------------------------------------

_DISABLED = "DISABLED"
_ACTIVE = "ACTIVE"
# Columns whose change is an event of its own, not a plain update.
_STAFF_OWN_EVENTS = ("account_status", "role", "user_id")


def _staff(change: dict, facts: Facts) -> list[Derived]:
    staff_id = change["id"]
    if change["op"] == "insert":
        found = [Derived(EventType.STAFF_CREATED, staff_id)]
        if change["fields"].get("account_status", [None, None])[1] == _ACTIVE:
            found.append(Derived(EventType.MEMBER_JOINED, staff_id))  # joined as they came
        return found
    if change["op"] == "delete":
        found = [Derived(EventType.STAFF_DELETED, staff_id)]
        if change["fields"].get("user_id", [None])[0] is not None:
            found.append(Derived(EventType.MEMBER_LEFT, staff_id))
        return found
    found = []
    status = _moved(change, "account_status")
    if status is not None:
        before, after = status
        if after == _DISABLED:
            found.append(Derived(EventType.STAFF_DISABLED, staff_id))
        elif before == _DISABLED:
            found.append(Derived(EventType.STAFF_ENABLED, staff_id))
        elif after == _ACTIVE:
            found.append(Derived(EventType.MEMBER_JOINED, staff_id))
    login = _moved(change, "user_id")
    if login is not None and login[0] is not None and login[1] is None:
        found.append(Derived(EventType.MEMBER_LEFT, staff_id))
    role = _moved(change, "role")
    if role is not None:
        found.append(
            Derived(EventType.STAFF_ROLE_CHANGED, staff_id, extra={"from": role[0], "to": role[1]})
        )
        if role[1] == "OWNER":
            found.append(Derived(EventType.ACCOUNT_OWNER_CHANGED, change["account_id"]))
    rest = changed_fields("staff", change, leave=_STAFF_OWN_EVENTS)
    if rest:
        found.append(Derived(EventType.STAFF_UPDATED, staff_id, rest))
    return found


def _staff_link(name: str) -> Rule:
    """Rows that hang off one staff record (shares, permit grants): a change to them is an
    update of that record, named ``name`` (a row of ``STAFF_LINKS``)."""
    STAFF_LINKS[name]  # an unknown name is an error here, not when someone is told of it

    def rule(change: dict, facts: Facts) -> list[Derived]:
        staff_id = change["key"][0]
        return [Derived(EventType.STAFF_UPDATED, staff_id, [name])]

    return rule


def _custom_value_link(change: dict, facts: Facts) -> str:
    """The name (a row of ``STAFF_LINKS``) a change of a custom field value has: by whether
    the field is personal (its definition says; one not known to be open is)."""
    if change["key"][1] in facts.open_custom_fields:
        return "custom_fields"
    return "personal_custom_fields"


def _custom_value(change: dict, facts: Facts) -> list[Derived]:
    """A custom field value of a staff record: an update of that record, named by whether
    the field is personal (its definition says), so that those who may not see personal
    data never learn that (or when) a personal value changed."""
    staff_id = change["key"][0]
    return [Derived(EventType.STAFF_UPDATED, staff_id, [_custom_value_link(change, facts)])]


def without_personal_data(change: dict, facts: Facts) -> dict | None:
    """A changed row (as ``app.audit.changes`` records it) as told to someone without
    ViewPersonalData, by the rows webhooks tell field names by: without the columns whose
    rows are personal (``is_personal``); a personal custom field's value not at all (the
    row is that value: whether it was set, changed or cleared is personal too); an update
    left with no column to tell not at all either (an empty one would say when hidden data
    changed). None: nothing to tell. A column or table no row names is left out."""
    table = change["table"]
    if table == "custom_field_values":
        if is_personal(STAFF_LINKS[_custom_value_link(change, facts)]):
            return None
    try:
        rows = field_table(table)
    except UnknownField:
        return None
    fields = {}
    for column, values in change["fields"].items():
        try:
            row = rows.column(column)
        except UnknownField:
            continue
        if not is_personal(row):
            fields[column] = values
    if not fields and change["op"] == "update":
        return None
    return {**change, "fields": fields}


# --- invitations and join requests --------------------------------------------------------

_INVITATION_ENDS = {
    "ACCEPTED": EventType.INVITATION_ACCEPTED,
    "REVOKED": EventType.INVITATION_REVOKED,
    "EXPIRED": EventType.INVITATION_EXPIRED,
}


def _invitation(change: dict, facts: Facts) -> list[Derived]:
    invitation_id = change["id"]
    if change["op"] == "insert":
        return [Derived(EventType.INVITATION_CREATED, invitation_id)]
    if change["op"] == "delete":
        return []
    found = []
    status = _moved(change, "status")
    if status is not None and status[1] in _INVITATION_ENDS:
        found.append(Derived(_INVITATION_ENDS[str(status[1])], invitation_id))
    sent = _moved(change, "sent_count")
    if sent is not None and int(str(sent[1] or 0)) > int(str(sent[0] or 0)):
        found.append(Derived(EventType.INVITATION_RESENT, invitation_id))
    return found


def _join_request(change: dict, facts: Facts) -> list[Derived]:
    if change["op"] == "insert":
        return [Derived(EventType.JOIN_REQUEST_CREATED, change["id"])]
    status = _moved(change, "status")
    if change["op"] == "update" and status is not None and status[0] == "PENDING":
        return [Derived(EventType.JOIN_REQUEST_DECIDED, change["id"], extra={"status": status[1]})]
    return []


# --- custom fields and the account --------------------------------------------------------


def _custom_field(change: dict, facts: Facts) -> list[Derived]:
    kinds = {
        "insert": EventType.CUSTOM_FIELD_CREATED,
        "update": EventType.CUSTOM_FIELD_UPDATED,
        "delete": EventType.CUSTOM_FIELD_DELETED,
    }
    fields = changed_fields("custom_fields", change) if change["op"] == "update" else []
    if change["op"] == "update" and not fields:
        return []
    return [Derived(kinds[change["op"]], change["id"], fields)]


_PLAN_COLUMNS = ("plan", "seat_limit")


def _account(change: dict, facts: Facts) -> list[Derived]:
    if change["op"] != "update":
        return []
    if any(_moved(change, column) for column in _PLAN_COLUMNS):
        plan = change["fields"].get("plan")
        extra = {"from": plan[0], "to": plan[1]} if plan else {}
        fields = [c for c in _PLAN_COLUMNS if _moved(change, c)]
        return [Derived(EventType.ACCOUNT_PLAN_CHANGED, change["id"], fields, extra)]
    return []


RULES: dict[str, Rule] = {
    "staff": _staff,
    "custom_field_values": _custom_value,
    "staff_shares": _staff_link("shared_with"),
    "staff_permit_grants": _staff_link("permits"),
    "invitations": _invitation,
    "join_requests": _join_request,
    "custom_fields": _custom_field,
    "accounts": _account,
}
"""Tables whose changes are events. Every other table's are not (logins, tokens, links,
projects and statuses are the account's own bookkeeping, or reach clients through the
records above)."""


def derive(changes: list[dict], facts: Facts = Facts()) -> list[tuple[int, Derived]]:
    """The events of one unit of work, with the account each belongs to, in order.

    A record touched by several flushes of one unit of work gives one event of each type,
    its field names merged; a record created in it is not also "updated".
    """
    found: dict[tuple[int, EventType, int], Derived] = {}
    order: list[tuple[int, EventType, int]] = []
    created: set[tuple[str, int]] = set()
    for change in changes:
        rule = RULES.get(change["table"])
        account_id = change["table"] == "accounts" and change["id"] or change.get("account_id")
        if rule is None or account_id is None:
            continue
        for event in rule(change, facts):
            subject = subject_of(event.type)
            if event.type.value.endswith(".created"):
                created.add((subject, event.subject_id))
            elif event.type is EventType.STAFF_UPDATED and (subject, event.subject_id) in created:
                continue
            key = (account_id, event.type, event.subject_id)
            if key in found:
                for name in event.fields:
                    if name not in found[key].fields:
                        found[key].fields.append(name)
                first = found[key].extra.get("from")
                found[key].extra.update(event.extra)
                if first is not None:
                    found[key].extra["from"] = first  # the value before the unit of work
            else:
                found[key] = event
                order.append(key)
    return [(key[0], found[key]) for key in order]
