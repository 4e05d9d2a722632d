"""The compiled executor answers every document exactly as graphql-core does, generated.

Hypothesis writes documents over the staff directory and its records by sid
(``staffBySid``) or by global id (``node``), alone, beside the list, twice, and over the
invitations and the audit log (alone, together, beside the directory), and beside them
``viewer``, ``account`` (with its seats), ``customFields`` and ``picklists``: random
selections of the Staff fields, the manager, the custom fields and the address, nodes
and edges, totalCount and pageInfo, of the invitations' and audit entries' fields;
named fragments (on Staff, Invitation, AuditEntry, on Node, spreading each other) and
inline ones (under ``node`` also on types that are not Staff); aliases and fields
selected twice; the roots' arguments (cursors, statuses, filters) as literals or as
variables; and @skip/@include with literal or variable conditions. Each document is sent, as a member of
every role (guests and the personal-data permit included) and through API keys narrowed by
their scopes, with the ids of records they
see, do not see, of another account, of no record, of things that are not Staff (which
graphql-core answers) and malformed ones, to an app with the compiled
plans and to one where graphql-core answers everything, over the same database: the
responses must be the same bytes, errors and nulls included. A difference is a bug of
the compiler. The documents the generator knows the plans cover must also have been
answered by them, for every role, unless the answer is an error (input errors are
graphql-core's to report).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.access.scopes import Scope
from app.db.base import utcnow
from app.graphql.ids import decode_any
from app.invitations.models import Invitation
from tests.factories import gid, make_api_token, update_row
from tests.graphql.test_hot import (
    NOT_STAFF_IDS,
    STAFF_IDS,
    _answered,
    _headers,
    _node_world,
    cold_client,
    cold_services,
)

__all__ = ["cold_client", "cold_services"]  # fixtures, used by name

# Staff fields the plans read (columns, derived values, resolvers of self alone).
SCALARS = (
    "id sid firstName lastName fullName title company notes isInactive restricted role kind "
    "accountStatus hasLogin createdAt modifiedAt email phoneCell phoneWork phoneHome "
    "startDate termDate capacity costFactor hourRateType rate1 rate2 rate3 rate4 rate5 "
    "homeTimezone effectiveTimezone viewerCanSeeDetails viewerCanSeePersonalData viewerCanEdit viewerCanDelete "
    "externalId usePayrollItem staffOrgId postTimeAsBilled __typename"
).split()
ADDRESS = "street city state zip country __typename".split()
CUSTOM_FIELD = "id name type options personal description archived createdAt __typename".split()
STATUS = "id name archived __typename".split()
PAGE_INFO = "hasNextPage hasPreviousPage startCursor endCursor __typename".split()
# Fields that load more than the page (graphql-core answers documents selecting them).
UNCOVERED = (
    "permits",
    "ssn",
    "salary",
    "sharedWith { id }",
    "reportingChain { id }",
)

# Fields of the other connection roots' nodes, and what of them the plans do not cover.
INVITATION_SCALARS = (
    "id email role status sentCount lastSentAt expiresAt createdAt acceptedAt message "
    "__typename"
).split()
AUDIT_SCALARS = (
    "id action actorStaffId actorUserId impersonatorUserId targetType targetId diff "
    "requestId clientAddress createdAt __typename"
).split()
NODE_SCALARS = {"Invitation": INVITATION_SCALARS, "AuditEntry": AUDIT_SCALARS}
NODE_UNCOVERED = {
    "Invitation": ("inviter { id fullName }", "staff { sid email }"),
    "AuditEntry": (),
}

FIRST = (0, 1, 3, 20, 100)
SEARCH = ("", "  ", "Person", "manag", "editor", "Bea", "zz-nobody")
# (literal, variable value) pairs
FILTERS = (
    ("{includeInactive: true}", {"includeInactive": True}),
    ("{includeDisabled: true, includeInactive: true}",
     {"includeDisabled": True, "includeInactive": True}),
    ('{company: "nobody"}', {"company": "nobody"}),
    ("{roles: [VIEWER, OWNER]}", {"roles": ["VIEWER", "OWNER"]}),
    ("{kinds: [EMPLOYEE]}", {"kinds": ["EMPLOYEE"]}),
    ("{sids: [1, 2, 3, 5, 8]}", {"sids": [1, 2, 3, 5, 8]}),
    ("{sids: []}", {"sids": []}),
)
SORTS = (
    ("{key: FIRST_NAME}", {"key": "FIRST_NAME"}),
    ("{key: LAST_NAME, direction: DESC}", {"key": "LAST_NAME", "direction": "DESC"}),
    ("{key: ROLE}", {"key": "ROLE"}),
    ("{key: EMAIL}", {"key": "EMAIL"}),  # refused without the personal-data permit
)
# (literal, variable value) pairs for the other roots (cursors are ids: "after id n").
INVITATION_ARGUMENTS = {
    "status": [(s, s) for s in ("PENDING", "ACCEPTED", "REVOKED", "EXPIRED")],
    "after": [(f'"{gid("Invitation", n)}"', gid("Invitation", n)) for n in (2, 4, 99)]
    + [('"not-a-cursor"', "not-a-cursor")],
    "email": [('"ann@example.com"', "ann@example.com")],  # refused without the permit
    "staffId": [('"@id:person1@"', "@id:person1@"), ('"@id:boss@"', "@id:boss@")],
}
AUDIT_ARGUMENTS = {
    "after": [(f'"{gid("AuditEntry", n)}"', gid("AuditEntry", n)) for n in (3, 6, 99)]
    + [('"not-a-cursor"', "not-a-cursor")],
    "filter": [
        ('{action: "invitationCreate"}', {"action": "invitationCreate"}),
        ('{actorStaffId: "@id:boss@"}', {"actorStaffId": "@id:boss@"}),
        ('{targetId: "not-an-id", since: "2000-01-01T00:00:00Z"}',
         {"targetId": "not-an-id", "since": "2000-01-01T00:00:00Z"}),
        ('{until: "2000-01-01T00:00:00Z"}', {"until": "2000-01-01T00:00:00Z"}),
    ],
}
CONNECTION_ROOTS = {
    "invitations": ("InvitationConnection", "Invitation", INVITATION_ARGUMENTS),
    "auditLog": ("AuditEntryConnection", "AuditEntry", AUDIT_ARGUMENTS),
}
ARGUMENT_TYPES = {
    "first": "Int!",
    "status": "InvitationStatus",
    "email": "String",
    "staffId": "ID",
    "search": "String",
    "filter": "StaffFilterInput",
    "sort": "StaffSortInput",
    "after": "String",
    "sid": "Int!",
    "id": "ID!",
    "includeArchived": "Boolean!",
    "names": "[String!]",
}
SIDS = (1, 2, 3, 5, 8, 999)
# Global ids by name (test_hot's _node_world makes them; "self" is the asker's own), as
# placeholders the test replaces with the ids of its database.
STAFF = (*STAFF_IDS, "self")
PLACEHOLDER = re.compile(r"@id:([a-z0-9-]+)@")
# Fragments under ``node`` on types that are not Staff (never applied to a Staff).
# Fields of the roots answered by their resolvers' functions (RESOLVED_ROOTS).
ACCOUNT = "id name slug realmId plan createdAt __typename".split()
SEATS = "limit used reserved available guests guestsReserved guestsTakeSeats __typename".split()
SETTINGS = ("everyoneCanInvite invitationExpiryDays joinLinkRole joinLinkExpiryDays "
            "joinLinkRequiresApproval timezone guestsTakeSeats selfSignup scimInvites").split()
USER = "id email firstName lastName emailVerified __typename".split()
MEMBER_ACCOUNT = "id realmId slug name role __typename".split()
ROLE_INFO = "value name description permits __typename".split()
RESOLVED_ROOTS = ("viewer", "account", "customFields", "customFieldValues", "picklists")
VALUE_NAMES = ([], ["Team"], ["Badge", "Level"], ["nope"])
NOT_STAFF_FRAGMENTS = (
    "... on Project { name }",
    "... on Invitation { email invitationStatus: status }",  # Staff.status is an object
    "... on CustomField { name }",
    "... on Account { slug }",
)


@dataclass
class Doc:
    """A document being written: its variables, fragments and whether plans cover it."""

    draw: st.DrawFn
    variables: dict = field(default_factory=dict)  # name: (type, value)
    fragments: dict = field(default_factory=dict)  # name: text
    on: dict = field(default_factory=dict)  # fragment name: its type condition
    covered: bool = True
    aliases: int = 0  # kept under the schema's limit (30)
    pages: int = 0  # direct reports' pages asked for with arguments

    def variable(self, type_: str, value) -> str:
        name = f"v{len(self.variables)}"
        self.variables[name] = (type_, value)
        return "$" + name

    def directive(self) -> str:
        kind = self.draw(st.sampled_from(("", "", "", "include", "skip")))
        if not kind:
            return ""
        value = self.draw(st.booleans())
        if self.draw(st.booleans()):
            condition = "true" if value else "false"
        else:
            condition = self.variable("Boolean!", value)
        return f" @{kind}(if: {condition})"

    def key(self, name: str) -> str:
        """The field, under an alias sometimes: an alias always names one field, so that
        fields of one response key always merge."""
        alias = self.draw(st.sampled_from(("", "", "", "a", "b")))
        if not alias or self.aliases >= 20:
            return name
        self.aliases += 1
        return f"{name}_{alias}: {name}"

    def leaves(self, names, at_least: int = 1) -> list[str]:
        chosen = self.draw(st.lists(st.sampled_from(names), min_size=at_least, max_size=6))
        return [self.key(n) + self.directive() for n in chosen]

    def staff(self, depth: int, record: bool = False) -> str:
        """A selection of Staff: depth 0 is a row of the page or a record root's record
        (``record``), 1 its manager or a record it relates to."""
        items = self.leaves(SCALARS)
        extras = self.draw(
            st.lists(
                st.sampled_from(
                    ("address", "manager", "manager", "customFields", "customFields", "status",
                     "inline", "node", "spread", "spread", "uncovered", "related", "related")
                ),
                max_size=4,
            )
        )
        for extra in extras:
            if extra == "related":
                if depth > 1:
                    continue
                if not record:
                    self.covered = False  # for each row of a list: graphql-core's
                items.append(self.related())
            elif extra == "address":
                items.append(f"{self.key('address')}{self.directive()} {{ "
                             f"{' '.join(self.leaves(ADDRESS))} }}")
            elif extra == "status":
                if depth > 0:
                    self.covered = False  # a manager's status: graphql-core's
                items.append(f"{self.key('status')}{self.directive()} {{ "
                             f"{' '.join(self.leaves(STATUS))} }}")
            elif extra == "manager":
                if depth > 0:
                    self.covered = False  # the manager's manager: graphql-core's
                    if depth > 1:
                        continue
                items.append(f"{self.key('manager')}{self.directive()} {{ "
                             f"{self.staff(depth + 1, record=record)} }}")
            elif extra == "customFields":
                if depth > 0:
                    self.covered = False
                inner = [
                    f"{self.key(n)}{self.directive()} {{ {' '.join(self.leaves(CUSTOM_FIELD))} }}"
                    if n == "field" else self.key(n) + self.directive()
                    for n in self.draw(
                        st.lists(st.sampled_from(("value", "__typename", "field")),
                                 min_size=1, max_size=3)
                    )
                ]
                items.append(f"{self.key('customFields')}{self.directive()} {{ "
                             f"{' '.join(inner)} }}")
            elif extra == "inline":
                condition = self.draw(st.sampled_from(("on Staff ", "", "on Node ")))
                names = ["id", "__typename"] if condition == "on Node " else SCALARS
                items.append(f"...{condition}{self.directive()} {{ "
                             f"{' '.join(self.leaves(names))} }}")
            elif extra == "node":
                items.append(f"... on Node {{ id ... on Staff {{ {' '.join(self.leaves(SCALARS))} }} }}")
            elif extra == "spread":
                items.append(f"...{self.fragment()}{self.directive()}")
            elif extra == "uncovered":
                self.covered = False
                items.append(self.draw(st.sampled_from(UNCOVERED)))
        order = self.draw(st.permutations(items))
        return " ".join(order)

    def related(self) -> str:
        """A record's reporting chain, direct reports (paged, counted) or invitation."""
        kind = self.draw(st.sampled_from(("reportingChain", "directReports", "invitation")))
        if kind == "reportingChain":
            return f"{self.key(kind)}{self.directive()} {{ {self.staff(1)} }}"
        if kind == "invitation":
            return (f"{self.key(kind)}{self.directive()} {{ "
                    f"{' '.join(self.leaves(INVITATION_SCALARS))} }}")
        arguments = []
        if self.draw(st.booleans()):
            first = self.draw(st.sampled_from(FIRST))
            arguments.append(self.argument("first", str(first), first))
        if self.draw(st.integers(0, 3)) == 0:
            cursor = self.draw(st.sampled_from(('"not-a-cursor"', '"WyJQZXJzb24wMSIsMV0"')))
            arguments.append(self.argument("after", cursor, json.loads(cursor)))
        parts = self.draw(st.lists(st.sampled_from(("totalCount", "pageInfo", "nodes", "edges")),
                                   min_size=1, max_size=3))
        items = []
        for part in parts:
            if part == "pageInfo":
                items.append(f"pageInfo {{ {' '.join(self.leaves(PAGE_INFO))} }}")
            elif part == "nodes":
                items.append(f"{self.key('nodes')} {{ {self.staff(1)} }}")
            elif part == "edges":
                items.append(f"edges {{ cursor node {{ {self.staff(1)} }} }}")
            else:
                items.append(self.key(part) + self.directive())
        if not arguments or self.aliases >= 25:
            return f"{self.key(kind)}{self.directive()} {{ {' '.join(items)} }}"
        # a name of its own: two pages of one record asked for differently never merge
        # (a document selecting them under one name is invalid)
        self.pages += 1
        self.aliases += 1
        return (f"reports{self.pages}: {kind}({', '.join(arguments)}){self.directive()} "
                f"{{ {' '.join(items)} }}")

    def spreadable(self, type_: str) -> list[str]:
        """The fragments written so far that may be spread in a selection of ``type_``."""
        return sorted(
            n for n, on in self.on.items() if type_ == "Node" or on in (type_, "Node")
        )

    def fragment(self, type_: str = "Staff") -> str:
        """A named fragment on ``type_`` or Node (new, or one already written: a fragment
        may be spread twice); a new one may spread the earlier ones."""
        known = self.spreadable(type_)
        if known and self.draw(st.booleans()):
            return self.draw(st.sampled_from(known))
        name = f"F{len(self.fragments)}"
        on = self.draw(st.sampled_from((type_, type_, "Node")))
        names = ["id", "__typename"] if on == "Node" else NODE_SCALARS.get(on, SCALARS)
        items = self.leaves(names)
        earlier = self.spreadable(on)
        if earlier and self.draw(st.booleans()):
            items.append("..." + self.draw(st.sampled_from(earlier)))
        self.fragments[name] = f"fragment {name} on {on} {{ {' '.join(items)} }}"
        self.on[name] = on
        return name

    def listed(self, type_: str) -> str:
        """A selection of an invitation or an audit entry: its fields, inline fragments
        (on its type, on Node, without a condition), named fragments, and fields the plans
        do not cover."""
        scalars = NODE_SCALARS[type_]
        items = self.leaves(scalars)
        extras = self.draw(
            st.lists(st.sampled_from(("inline", "node", "spread", "spread", "uncovered")),
                     max_size=3)
        )
        for extra in extras:
            if extra == "inline":
                condition = self.draw(st.sampled_from((f"on {type_} ", "", "on Node ")))
                names = ["id", "__typename"] if condition == "on Node " else scalars
                items.append(f"...{condition}{self.directive()} {{ "
                             f"{' '.join(self.leaves(names))} }}")
            elif extra == "node":
                items.append(f"... on Node {{ id ... on {type_} {{ "
                             f"{' '.join(self.leaves(scalars))} }} }}")
            elif extra == "spread":
                items.append(f"...{self.fragment(type_)}{self.directive()}")
            elif NODE_UNCOVERED[type_]:
                self.covered = False
                items.append(self.draw(st.sampled_from(NODE_UNCOVERED[type_])))
        return " ".join(self.draw(st.permutations(items)))

    def other_connection(self, root: str) -> str:
        """``invitations`` or ``auditLog``: its arguments and a selection of its page."""
        connection, type_, choices = CONNECTION_ROOTS[root]
        arguments = []
        if self.draw(st.booleans()):
            first = self.draw(st.sampled_from(FIRST))
            arguments.append(self.argument("first", str(first), first))
        for name, values in choices.items():
            if self.draw(st.integers(0, 2)) == 0:
                literal, value = self.draw(st.sampled_from(values))
                type_name = "AuditLogFilter" if name == "filter" else None
                arguments.append(self.argument(name, literal, value, type_name))
        kinds = self.draw(
            st.lists(st.sampled_from(("edges", "edges", "pageInfo", "totalCount", "__typename",
                                      "inline")),
                     min_size=1, max_size=4)
        )
        items = []
        for kind in kinds:
            if kind == "edges":
                inner = [self.key("cursor")] if self.draw(st.booleans()) else []
                inner.append(f"{self.key('node')}{self.directive()} {{ {self.listed(type_)} }}")
                inner.append(self.draw(st.sampled_from(("", "__typename"))))
                items.append(f"{self.key('edges')}{self.directive()} {{ {' '.join(inner)} }}")
            elif kind == "pageInfo":
                items.append(f"{self.key('pageInfo')}{self.directive()} {{ "
                             f"{' '.join(self.leaves(PAGE_INFO))} }}")
            elif kind == "inline":
                items.append(f"... on {connection}{self.directive()} {{ "
                             f"{' '.join(self.leaves(['totalCount', '__typename']))} }}")
            else:
                items.append(self.key(kind) + self.directive())
        args = f"({', '.join(arguments)})" if arguments else ""
        return f"{args} {{ {' '.join(items)} }}"

    def node(self) -> str:
        """A selection of the Node interface (``node``'s): its own fields, inline fragments
        and spreads on Node and Staff, and fragments on other types."""
        items = self.leaves(["id", "__typename"], at_least=0)
        kinds = self.draw(
            st.lists(st.sampled_from(("staff", "staff", "spread", "node", "other")),
                     min_size=0 if items else 1, max_size=3)
        )
        for kind in kinds:
            if kind == "staff":
                items.append(f"... on Staff{self.directive()} {{ {self.staff(0, record=True)} }}")
            elif kind == "spread":
                items.append(f"...{self.fragment()}{self.directive()}")
            elif kind == "node":
                items.append(f"... on Node {{ {' '.join(self.leaves(['id', '__typename']))} }}")
            else:
                items.append(self.draw(st.sampled_from(NOT_STAFF_FRAGMENTS)))
        return " ".join(self.draw(st.permutations(items)))

    def account(self) -> str:
        items = self.leaves(ACCOUNT)
        for extra in self.draw(st.lists(st.sampled_from(("seats", "settings", "node")),
                                        max_size=2)):
            if extra == "seats":
                items.append(f"{self.key('seats')}{self.directive()} {{ "
                             f"{' '.join(self.leaves(SEATS))} }}")
            elif extra == "settings":
                items.append(f"settings {{ {' '.join(self.leaves(SETTINGS))} }}")
            else:
                items.append(f"... on Node{self.directive()} {{ id }}")
        return " ".join(self.draw(st.permutations(items)))

    def resolved(self, root: str) -> str:
        """A selection of a root of RESOLVED_ROOTS, with its arguments."""
        if root == "viewer":
            items = self.leaves(["role", "permits", "__typename"], at_least=0)
            parts = self.draw(st.lists(st.sampled_from(("user", "accounts", "account")),
                                       min_size=0 if items else 1, max_size=3))
            for part in parts:
                if part == "user":
                    items.append(f"user {{ {' '.join(self.leaves(USER))} }}")
                elif part == "accounts":
                    items.append(f"accounts {{ {' '.join(self.leaves(MEMBER_ACCOUNT))} }}")
                else:
                    items.append(f"{self.key('account')}{self.directive()} {{ {self.account()} }}")
            return f"{{ {' '.join(items)} }}"
        if root == "account":
            return f"{{ {self.account()} }}"
        if root == "customFields":
            args = ""
            if self.draw(st.booleans()):
                archived = self.draw(st.booleans())
                args = f"({self.argument('includeArchived', str(archived).lower(), archived)})"
            return f"{args} {{ {' '.join(self.leaves(CUSTOM_FIELD))} }}"
        if root == "customFieldValues":
            args = ""
            if self.draw(st.booleans()):
                names = self.draw(st.sampled_from(VALUE_NAMES))
                args = f"({self.argument('names', json.dumps(names), names)})"
            items = self.leaves(["value", "__typename"], at_least=0)
            if self.draw(st.booleans()) or not items:
                items.append(f"{self.key('staff')}{self.directive()} {{ {self.staff(1)} }}")
            if self.draw(st.booleans()):
                items.append(f"field {{ {' '.join(self.leaves(CUSTOM_FIELD))} }}")
            return f"{args} {{ {' '.join(items)} }}"
        parts = self.draw(st.lists(
            st.sampled_from(("roles", "staffStatuses", "timeZones", "staffKinds",
                             "projectTeamRoles", "__typename")), min_size=1, max_size=4))
        items = []
        for part in parts:
            if part == "roles":
                items.append(f"roles {{ {' '.join(self.leaves(ROLE_INFO))} }}")
            elif part == "staffStatuses":
                items.append(f"staffStatuses {{ {' '.join(self.leaves(STATUS))} }}")
            elif part == "projectTeamRoles":
                items.append(f"projectTeamRoles {{ {' '.join(self.leaves(STATUS))} }}")
            else:
                items.append(self.key(part) + self.directive())
        return f"{{ {' '.join(items)} }}"

    def argument(self, name: str, literal: str, value, type_: str | None = None) -> str:
        if self.draw(st.booleans()):
            return f"{name}: {self.variable(type_ or ARGUMENT_TYPES[name], value)}"
        return f"{name}: {literal}"

    def connection(self) -> str:
        kinds = self.draw(
            st.lists(
                st.sampled_from(("nodes", "edges", "totalCount", "pageInfo", "__typename",
                                 "inline")),
                min_size=1,
                max_size=4,
            )
        )
        items = []
        for kind in kinds:
            if kind == "nodes":
                items.append(f"{self.key('nodes')}{self.directive()} {{ {self.staff(0)} }}")
            elif kind == "edges":
                inner = ["cursor"] if self.draw(st.booleans()) else []
                inner.append(f"{self.key('node')}{self.directive()} {{ {self.staff(0)} }}")
                items.append(f"{self.key('edges')}{self.directive()} {{ {' '.join(inner)} }}")
            elif kind == "pageInfo":
                items.append(f"{self.key('pageInfo')}{self.directive()} {{ "
                             f"{' '.join(self.leaves(PAGE_INFO))} }}")
            elif kind == "inline":
                items.append(f"... on StaffConnection{self.directive()} {{ "
                             f"{' '.join(self.leaves(['totalCount', '__typename']))} }}")
            else:
                items.append(self.key(kind) + self.directive())
        return " ".join(items)


@st.composite
def documents(draw) -> tuple[str, dict, str | None, bool]:
    """(document, variables, operation name, whether the plans cover it)."""
    doc = Doc(draw)
    others = draw(st.sampled_from(("", "", "", "invitations", "auditLog", "both")))
    alone = bool(others) and draw(st.booleans())  # without the directory and records
    arguments = []
    if draw(st.integers(0, 2)) == 0:
        first = draw(st.sampled_from(FIRST))
        arguments.append(doc.argument("first", str(first), first))
    if draw(st.integers(0, 3)) == 0:
        search = draw(st.sampled_from(SEARCH))
        arguments.append(doc.argument("search", json.dumps(search), search))
    if draw(st.integers(0, 3)) == 0:
        literal, value = draw(st.sampled_from(FILTERS))
        arguments.append(doc.argument("filter", literal, value))
    if draw(st.integers(0, 3)) == 0:
        literal, value = draw(st.sampled_from(SORTS))
        arguments.append(doc.argument("sort", literal, value))
        if value["key"] == "EMAIL":
            doc.covered = False  # an error for most roles: handed back
    if draw(st.integers(0, 19)) == 0:
        arguments.append(doc.argument("after", '"not-a-cursor"', "not-a-cursor"))
        doc.covered = False  # an input error: handed back
    args = f"({', '.join(arguments)})" if arguments else ""
    roots = []
    shape = draw(st.sampled_from(("page", "page", "page", "page and record", "record")))
    if alone:
        shape = "none"
        doc.variables.clear()
    if shape not in ("record", "none"):
        roots.append(f"{doc.key('staff')}{args} {{ {doc.connection()} }}")
    else:
        doc.variables.clear()  # only the list's arguments were variables so far
    if shape not in ("page", "none"):  # one record by sid or by global id, once or twice
        for i in range(draw(st.integers(1, 2))):
            root = draw(st.sampled_from(("staffBySid", "node")))
            keys = ((root, f"one: {root}"), (f"two: {root}", f"three: {root}"))
            key = draw(st.sampled_from(keys[i]))  # keys that never clash
            if root == "staffBySid":  # a record that exists, or not
                sid = draw(st.sampled_from(SIDS))
                argument = doc.argument("sid", str(sid), sid)
                roots.append(f"{key}({argument}) {{ {doc.staff(0, record=True)} }}")
                continue
            # mostly a Staff's (seen or not): the plans answer those
            name = draw(st.sampled_from(NOT_STAFF_IDS if draw(st.integers(0, 3)) == 0 else STAFF))
            if name in NOT_STAFF_IDS:
                doc.covered = False  # graphql-core's to answer
            placeholder = f"@id:{name}@"
            argument = doc.argument("id", json.dumps(placeholder), placeholder)
            roots.append(f"{key}({argument}) {{ {doc.node()} }}")
    for root in ("invitations", "auditLog"):
        if others in (root, "both"):
            for key in draw(st.sampled_from(((root,), (f"{root}_a: {root}",),
                                             (root, f"{root}_b: {root}")))):
                roots.insert(draw(st.integers(0, len(roots))),
                             f"{key}{doc.other_connection(root)}")
    extra = draw(st.sampled_from(("", "", "", "__typename", "resolved", "resolved")))
    if extra == "resolved":
        for root in draw(st.lists(st.sampled_from(RESOLVED_ROOTS), min_size=1, max_size=2,
                                  unique=True)):
            roots.insert(draw(st.integers(0, len(roots))), f"{root}{doc.resolved(root)}")
    elif extra:
        roots.insert(draw(st.integers(0, len(roots))), extra)
    if not roots:
        roots.append("__typename")
    name = draw(st.sampled_from((None, "Page")))
    definitions = ", ".join(f"${n}: {t}" for n, (t, _) in doc.variables.items())
    header = "query" + (f" {name}" if name else "") + (f"({definitions})" if definitions else "")
    text = f"{header} {{ {' '.join(roots)} }}"
    text += "".join("\n" + f for f in doc.fragments.values())
    variables = {n: v for n, (_, v) in doc.variables.items()}
    return text, variables, name, doc.covered


MEMBERS = ("VIEWER", "VIEWER+PD", "EDITOR", "ADMINISTRATOR", "OWNER", "GUEST")
# The owner's API keys: narrowed by their scopes to less than the owner may (one that does
# not read the directory reads like a guest; one without personal_data sees none).
KEYS = {
    "KEY:STAFF_READ": [Scope.STAFF_READ],
    "KEY:STAFF_READ+PD": [Scope.STAFF_READ, Scope.PERSONAL_DATA],
    "KEY:ADMIN": [Scope.ADMIN],
}
REQUEST_ID = re.compile(rb'"requestId":"[0-9a-f]+"')


INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { code } }
}"""
REVOKE = "mutation($id: ID!) { invitationRevoke(input: {id: $id}) { userErrors { code } } }"


@pytest.fixture
async def setting(services, api):
    """The members of every role (a guest included) and the global ids by name; in an
    account where everyone may invite, invitations pending (for a record and for new
    people, sent by the owner, the viewer and the editor), revoked, expired and
    accepted, and the audit log of all that."""
    members, ids = await _node_world(services, api)
    owner = members["OWNER"]
    account = SimpleNamespace(account_id=_pk(ids["account"]))
    for name, scopes in KEYS.items():
        key = await make_api_token(services, account, owner, scopes=scopes)
        members[name] = replace(owner, token=key)

    async def invite(member, **input) -> str:
        data = await api.data(INVITE, {"input": input}, as_=member)
        assert data["invitationCreate"]["userErrors"] == [], data
        return data["invitationCreate"]["invitation"]["id"]

    await api.data("mutation { accountUpdate(input: {everyoneCanInvite: true}) "
                   "{ userErrors { code } } }", as_=owner)
    revoked = await invite(owner, staffId=ids["person1"], email="p1@example.com")
    assert (await api.data(REVOKE, {"id": revoked}, as_=owner))["invitationRevoke"] == {
        "userErrors": []}
    await invite(owner, staffId=ids["person1"], email="P1@example.com", message="Hello")
    await invite(owner, email="ann@example.com", role="EDITOR")
    await invite(members["VIEWER"], email="friend@example.com", message="Join us")
    await invite(members["EDITOR"], email="eve@example.com")
    expired = await invite(owner, email="old@example.com")
    await update_row(services, Invitation, _pk(expired), expires_at=utcnow().replace(year=2001))
    accepted = await invite(owner, email="new@example.com")
    await update_row(services, Invitation, _pk(accepted), accepted_at=utcnow())
    return members, ids


def _pk(global_id: str) -> int:
    decoded = decode_any(global_id)
    assert decoded is not None
    return decoded[1]


@pytest.fixture
def world(setting):
    return setting[0]


def _with_ids(text: str, ids: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: ids[m.group(1)], text)


@settings(max_examples=int(os.environ.get("ROSTER_DIFFERENTIAL_EXAMPLES", "300")))
@given(document=documents(), who=st.sampled_from(MEMBERS + tuple(KEYS)))
async def test_compiled_and_graphql_core_answer_the_same_bytes(
    app, client, cold_client, setting, document, who
):
    world, ids = setting
    ids = {**ids, "self": world[who].staff_id}
    query, variables, name, covered = document
    query = _with_ids(query, ids)
    variables = json.loads(_with_ids(json.dumps(variables), ids))
    body = {"query": query, "variables": variables, "operationName": name}
    headers = _headers(world[who])
    before = _answered(app)
    hot = await client.post("/graphql", json=body, headers=headers)
    cold = await cold_client.post("/graphql", json=body, headers=headers)
    assert hot.status_code == cold.status_code, query
    hot_body, cold_body = (REQUEST_ID.sub(b"", r.content) for r in (hot, cold))
    if hot_body != cold_body:
        # Errors of fields resolved side by side are listed in the order they happened (a
        # request with errors is graphql-core's on both sides): the same data and the same
        # errors in another order are the same answer.
        h, c = json.loads(hot_body), json.loads(cold_body)
        assert len(h.get("errors", [])) > 1, (query, hot_body, cold_body)
        assert json.dumps(h.get("data")) == json.dumps(c.get("data")), query
        assert sorted(map(json.dumps, h["errors"])) == sorted(
            map(json.dumps, c.get("errors", []))
        ), query
    answer = cold.json()
    if "data" not in answer:
        # refused before execution, by both alike (the bytes are compared above): by the
        # query limits, or, rarely, as invalid, where fields of one response name drawn on
        # different types do not merge (a nullable and a non-null createdAt, say)
        assert all(
            e["message"].startswith("The query is too large")
            or (e["message"].startswith("Fields '") and " conflict because " in e["message"])
            for e in answer["errors"]
        ), ([e["message"] for e in answer["errors"]], query)
        return
    if covered and "errors" not in answer:  # input errors are graphql-core's to report
        assert _answered(app) == before + 1, f"the plan did not answer: {query}"


async def test_the_generated_documents_reach_what_they_claim(app, client, cold_client, world):
    """A fixed example of each feature the generator writes, answered by the plan as
    graphql-core answers it: the generator's documents are worth what these are."""
    query = """query Page($f: Int!, $yes: Boolean!, $no: Boolean!, $filter: StaffFilterInput) {
      __typename
      list: staff(first: $f, filter: $filter, sort: {key: LAST_NAME, direction: DESC}) {
        count: totalCount totalCount
        pageInfo { hasNextPage endCursor @include(if: $yes) }
        ... on StaffConnection { totalCount __typename }
        edges @skip(if: $no) { cursor node { ...A ...B id } }
        nodes { email_a: email manager { ...A } ... @include(if: $no) { title } }
      }
    }
    fragment A on Staff { id fullName ...N }
    fragment B on Staff { customFields { value field { name } } address { city } }
    fragment N on Node { id __typename }"""
    variables = {"f": 5, "yes": True, "no": False, "filter": {"includeInactive": True}}
    for who in MEMBERS:
        before = _answered(app)
        # guests may not filter the directory (an input error, as graphql-core says)
        filtered = {**variables, "filter": None if who == "GUEST" else variables["filter"]}
        body = {"query": query, "variables": filtered, "operationName": "Page"}
        hot = await client.post("/graphql", json=body, headers=_headers(world[who]))
        cold = await cold_client.post("/graphql", json=body, headers=_headers(world[who]))
        assert hot.content == cold.content, who
        assert hot.json()["data"] is not None, (who, hot.text)
        page = hot.json()["data"]["list"]
        assert page["count"] == page["totalCount"] > 0 and len(page["nodes"]) <= 5, who
        assert "title" not in page["nodes"][0], who
        assert _answered(app) == before + 1, who
