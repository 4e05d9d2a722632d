"""The compiled executor: documents over the staff directory, the invitations and the audit
log, answered without graphql-core.

graphql-core completes every field of every row through its general machinery: an
``Info`` object, a resolver call, type checks and a result map per field, several
microseconds each. A 100-row page asks for a few thousand fields, so the executor, not
the database, is what a staff list costs. Roster compiles each validated document that
reads the directory once into a plan, in the spirit of graphql-jit: the document's
fields are collected as graphql-core collects them (fragments and inline fragments by
their type conditions, aliases, fields selected twice merged, ``@skip``/``@include`` by
the values of their conditions), and each selection becomes one generated function that
reads its fields and completes them as the GraphQL type's own ``serialize`` would. The
plan runs on what the ``staff`` resolver would have used: the same service calls (the
page, and its count when ``totalCount`` is selected), the same visibility rules, the
manager joined to the page and the custom fields read in one statement for the page.
Records by sid (``staffBySid``, beside the list or without it) and by global id
(``node``, when the id is a Staff's) are found by the lookup their resolvers themselves
call (``staff.service.get_by_sid`` and ``get_one``: the record if its viewer sees it,
with its manager joined in the same statement, reading only the columns the document
selects), and completed by the same generated functions as a row of the page. A global
id is decoded as the resolver decodes it (``node_key``), and the selection of the Node
interface collected for a Staff object as graphql-core collects it (fragments on Node
and Staff apply, those on other types do not). An id of any other type, or a malformed
one, hands the request to graphql-core before anything is read.

The invitations, the audit log, ``viewer``, ``account``, ``customFields``,
``customFieldValues`` and ``picklists`` (``RESOLVED_ROOTS``) are answered by the
function their resolvers call (``invitation_page``, ``audit_page``, ``viewer_of``...:
arguments, service calls, the object the resolver returns), called with the arguments as
strawberry converts them for the resolver (``_arguments``); the plan completes the
objects it returns with the same generated functions, their fields' own resolvers taking
only ``self`` called as they are. A field whose resolver reads more rows is read by the
function that resolver calls (``AWAITED``: an account's ``seats``; the ``totalCount`` of
the invitations and the audit log; a record's ``reportingChain``, ``directReports`` and
``invitation`` under ``staffBySid`` or ``node``, its manager's too, the records they
return made SeenStaff) once the object holding it is completed, and only where that
object is no item of a list (one statement per item is what graphql-core's loaders would
batch). Other fields that load related rows (an
invitation's ``inviter`` and ``staff``, the viewer's own record, a related record's
manager) are not covered. A refusal (a role that may not read the root, bad input) is an
error, and so graphql-core's to report.

Staff records are completed as their viewer sees them (``SeenStaff``), without building a
``Staff`` object: the tables ``Staff.build`` itself is made from (``COLUMNS``: who sees
each column; ``DERIVED``: the computed fields) say how each selected field reads, and
``READS`` says which columns each reads, so the page's statement selects only those.

The plan runs inside strawberry, as a schema extension (``CompiledExecution``) that
supplies the execution result: after parsing, the document cache, validation and the
cost limit, so every other extension still sees the request. It answers only when it can
answer exactly as graphql-core would; otherwise it supplies nothing and graphql-core
executes the request: a document the plan does not cover, variables that do not coerce,
an authentication or input error, a null in a non-null field, any exception.
``tests/graphql/test_hot.py`` and ``tests/graphql/test_compiled_differential.py`` hold the
two paths to the same responses.

Plans are kept (``HotPaths.plans``, least recently used first) for at most ``MAX_PLANS``
documents, ``MAX_VARIANTS`` plans each, and within a memory budget
(``Settings.hot_paths_cache_bytes``, ``DEFAULT_BUDGET``): each document and plan carries
an estimate of the memory it holds, taken when it is added from what preparing and
compiling produced (the document's length; the plan's generated functions and their
entries), and calibrated against tracemalloc (``tests/graphql/test_plan_cache.py``,
``python -m bench.compile_time``). Beyond the budget the least recently used documents
are forgotten with their plans, then the least recently used plans of the document in
use; one document or plan larger than the budget alone answers its request and is not
kept. What is forgotten is compiled again when next requested.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import operator
import re
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from types import CodeType
from typing import Any, NamedTuple

from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    ValueNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
    is_abstract_type,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.execution.values import (
    VariableValues,
    get_argument_values,
    get_variable_values,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType as StrawberryOperationType

from app.custom_fields import service as custom_fields
from app.errors import DomainError, RateLimited
from app.fields import on_change
from app.graphql import loaders
from app.graphql.extensions import MAX_CACHED_DOCUMENT
from app.graphql.introspection import KeptIntrospection
from app.graphql.queries import (
    StaffSortInput,
    account_of,
    custom_field_list,
    custom_field_values_of,
    node_key,
    picklist_team_roles,
    picklists_of,
    staff_filter,
    viewer_of,
)
from app.graphql.types import staff as staff_type
from app.graphql.types.account import account_seats
from app.graphql.types.audit import audit_page
from app.graphql.types.custom_fields import CustomField
from app.graphql.types.invitations import invitation_page
from app.graphql.types.staff import (
    COLUMNS,
    DERIVED,
    READS,
    SeenStaff,
    StaffStatus,
    direct_reports_of,
    latest_invitation_of,
    reporting_chain_of,
    staff_connection,
)
from app.staff import service as staff_service
from app.staff.access import Shown
from app.staff.queries import PageColumns, RecordKey, StaffQuery, clean_search

log = logging.getLogger("roster.graphql.hot")

ROOT_FIELD = "staff"
ROOT_ARGUMENTS = {"first", "after", "search", "sort", "filter"}
# Root fields answering one staff record, and their arguments: by sid, and ``node`` (by
# global id; answered when the id is a Staff's, otherwise handed to graphql-core).
NODE_FIELD = "node"
RECORD_ROOTS = {"staffBySid": {"sid"}, NODE_FIELD: {"id"}}


# Root fields answered by the very function their resolver calls (context and arguments
# -> service calls -> the object the resolver returns): the plan calls it with the
# arguments as strawberry would pass them (``_arguments``) and completes what it returns.
RESOLVED_ROOTS: dict[str, Callable[..., Awaitable[Any]]] = {
    "invitations": invitation_page,
    "auditLog": audit_page,
    "viewer": viewer_of,
    "account": account_of,
    "customFields": custom_field_list,
    "customFieldValues": functools.partial(custom_field_values_of, build=SeenStaff),
    "picklists": picklists_of,
}
# Roots of RESOLVED_ROOTS whose functions return the staff records in them as SeenStaff,
# which the plan completes as it completes a record (not the records' related rows).
SEEN_RECORDS = frozenset({"customFieldValues"})


async def _count_of(ctx, connection) -> int:
    """The totalCount of a connection the plan did not read itself (a record's
    directReports, the invitations, the audit log): the count its function made, as the
    resolver awaits it."""
    return await connection._count()


# Fields whose resolvers read more rows, as functions of the context, the object and the
# field's arguments (the resolver's body): the plan calls them after completing the
# object, as graphql-core would, for an object that is not an item of a list (each would
# be read per item). Records they return are made SeenStaff (``build``/``node``).
AWAITED: dict[tuple[str, str], Callable[..., Awaitable[Any]]] = {
    ("Account", "seats"): account_seats,
    ("Picklists", "projectTeamRoles"): picklist_team_roles,
    ("Staff", "directReports"): functools.partial(direct_reports_of, node=SeenStaff),
    ("Staff", "reportingChain"): functools.partial(reporting_chain_of, build=SeenStaff),
    ("Staff", "invitation"): latest_invitation_of,
    ("StaffConnection", "totalCount"): _count_of,  # outside the plan's own page
    ("InvitationConnection", "totalCount"): _count_of,
    ("AuditEntryConnection", "totalCount"): _count_of,
}
# AWAITED fields whose records are read with only the columns their selection reads
# (``PageColumns``), not with those of the managers a plan reads.
OWN_READS = frozenset({("Staff", "directReports"), ("Staff", "reportingChain")})


def _frozen(wanted: set[str] | None) -> frozenset[str] | None:
    return None if wanted is None else frozenset(wanted)


def chain_columns(others: list) -> list:
    """``others`` with each record root read with its reporting chain (CHAIN) given the
    columns its rows are read with: its own selections' and those of the links of every
    reporting chain in the plan. Its chain is primed into the request's loader of chains,
    where any chain field of the plan may find it (two roots, or a root and another's
    manager, sharing a record), so its links must hold what any of them reads."""
    links = [o.links for o in others if isinstance(o, Record)]
    every = None if None in links else frozenset().union(*links)  # type: ignore[arg-type]
    return [
        o._replace(chain_columns=None if o.own is None or every is None else o.own | every)
        if isinstance(o, Record) and CHAIN in o.needs
        else o
        for o in others
    ]


# What a document must mention for a plan to answer it (a cheap test before parsing it).
MENTIONS = (ROOT_FIELD, NODE_FIELD, *RESOLVED_ROOTS)
# The root fields a plan answers: a document selecting any other (unconditionally) is
# graphql-core's, and is known to be at once.
COVERED_ROOTS = frozenset({ROOT_FIELD, *RECORD_ROOTS, *RESOLVED_ROOTS, "__typename"})
# Documents kept (each with its plans), and plans kept per document: one per combination
# of its @skip/@include conditions that requests have used.
MAX_PLANS = 256
MAX_VARIANTS = 16
# The memory the cache may hold, by its estimate (``Settings.hot_paths_cache_bytes``).
DEFAULT_BUDGET = 32 * 2**20
# The estimate, in bytes, calibrated against tracemalloc (tests/graphql/test_plan_cache.py,
# ``python -m bench.compile_time``): a document kept costs its text and its parsed
# operation, in proportion to its length; a plan costs its generated functions (their
# code, closures and namespaces) and their entries (a line of source, a constant, a
# completion each), in proportion to what compiling produced.
DOCUMENT_BYTES = 1_000
DOCUMENT_BYTES_PER_CHAR = 72
PLAN_BYTES = 1_000
FUNCTION_BYTES = 3_000
ENTRY_BYTES = 500


class Fallback(Exception):
    """This request is graphql-core's to answer."""


class NotCovered(Exception):
    """This document is not one a plan covers."""


# Failures graphql-core reports as it would anyway: input, authentication, rate limits.
EXPECTED = (Fallback, GraphQLError, DomainError, RateLimited)


@dataclass
class Prefetch:
    """The page's related rows: managers (joined to the page) and custom values."""

    manager_rows: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    managers: dict = field(default_factory=dict)  # built once per manager (one viewer)
    fields: dict = field(default_factory=dict)  # custom fields, built once each
    total: int | None = None  # the directory's count, when totalCount is selected
    statuses: dict = field(default_factory=dict)  # the account's statuses, by id
    # AWAITED fields of completed objects, still to read: (the object's response dict,
    # key, object, the field's function, its completion, whether it may be null, the
    # field's definition and node, for its arguments)
    pending: list = field(default_factory=list)
    coerced: Any = None  # the request's coerced variables (the fields' arguments)


Getter = Callable[[Any, Prefetch], Any]
VALUES = "custom values"
COUNT = "count"
STATUSES = "statuses"
MANAGERS = "managers"
CHAIN = "reporting chain"  # a record root's own reportingChain: read with the record
Complete = Callable[[Any, Prefetch], Any]


def _manager(seen: SeenStaff, fetched: Prefetch):
    manager_id = seen._row.manager_id
    if manager_id is None:
        return None
    try:
        return fetched.managers[manager_id]
    except KeyError:
        row = fetched.manager_rows.get(manager_id)
        built = fetched.managers[manager_id] = None if row is None else SeenStaff(row, seen._actor)
        return built


def _custom_fields(seen: SeenStaff, fetched: Prefetch):
    """The visible values themselves (FieldValue): CustomFieldValue's two fields, ``field``
    and ``value``, are attributes of the same names there."""
    return staff_type.custom_values_seen(seen, fetched.values.get(seen._row.id, ()))


def _field(value, fetched: Prefetch):
    """A value's field as the resolvers see it, built once per field: a page's values
    share a few fields."""
    record = value.field
    try:
        return fetched.fields[record.id]
    except KeyError:
        built = fetched.fields[record.id] = CustomField(_row=record)
        return built


def _status(seen: SeenStaff, fetched: Prefetch):
    """The record's status as the resolver builds it, from the account's statuses read
    once for the request (as the resolvers' ``loaders.statuses``)."""
    status_id = seen._row.status_id
    found = None if status_id is None else fetched.statuses.get(status_id)
    return None if found is None else StaffStatus(_row=found)


def _total(connection, fetched: Prefetch):
    return fetched.total


# Fields whose resolvers load related rows: the plan prefetches them for the whole page
# and applies the same visibility (the manager as the same viewer sees it; the custom
# values ``shown_values`` lets through; the status behind its class, from the account's
# statuses; the count ``count_staff`` gives for the same query). The plan's staff objects
# are SeenStaff (see RECORD_TYPES). The flags: whether only rows of the page itself (and
# its connection) have them here, and what the page must read besides its rows for them
# (managers come with the page).
PREFETCHED: dict[tuple[str, str], tuple[Getter, bool, str | None]] = {
    ("Staff", "manager"): (_manager, True, MANAGERS),
    ("Staff", "customFields"): (_custom_fields, True, VALUES),
    ("Staff", "status"): (_status, True, STATUSES),
    ("CustomFieldValue", "field"): (_field, False, None),
    ("StaffConnection", "totalCount"): (_total, True, COUNT),
}


class RecordType(NamedTuple):
    """A type the plan completes from a record as its viewer sees it (a SeenStaff) rather
    than from a built object: the columns are read inline, shown or hidden as ``columns``
    says, and ``derived`` computes the rest, exactly as Staff.build does; only the
    selected fields are read, and the page selects only the columns they read. Fields with
    resolvers are called with the SeenStaff as ``self``."""

    columns: dict  # field: who sees the column of its name (COLUMNS)
    derived: dict  # field: its value, computed from the SeenStaff (DERIVED)
    reads: dict  # field: the columns it reads, for the others (READS)


RECORD_TYPES = {"Staff": RecordType(COLUMNS, DERIVED, READS)}
SHOWN_IF = {
    Shown.ALWAYS: None,
    Shown.WITH_PROFILE: "profile",
    Shown.WITH_DETAILS: "details",
    Shown.WITH_PERSONAL_DATA: "personal",
    Shown.WITH_DETAILS_AND_PERSONAL_DATA: "details and personal",
}


def _unless_hidden(name: str, get: Getter) -> Getter:
    """``get`` behind the field's class (as the Staff resolver of ``name`` checks it), for
    a prefetched Staff field that is not shown to everyone (``app.staff.fields.STAFF``)."""

    def guarded(seen: SeenStaff, fetched: Prefetch):
        return None if staff_type.hidden(seen, name) else get(seen, fetched)

    return guarded


class Record(NamedTuple):
    """A root field answering one staff record (``staffBySid``, ``node``), compiled: its
    field (its arguments), how the record completes, what it reads besides the record,
    and the columns it reads of the record and its manager."""

    root: FieldNode
    complete: Complete
    needs: frozenset[str]
    columns: PageColumns
    # With CHAIN (the record read with its reporting chain): what the record's and its
    # manager's selections read, what the links of the chains it selects read, and what
    # the rows are read with (``chain_columns``); None: every column
    own: frozenset[str] | None = None
    links: frozenset[str] | None = None
    chain_columns: frozenset[str] | None = None


class Resolved(NamedTuple):
    """A root field of RESOLVED_ROOTS, compiled: its field (its arguments), the function
    its resolver calls, and how what that function returns completes."""

    root: FieldNode
    fetch: Callable[..., Awaitable[Any]]
    complete: Complete
    nullable: bool


@dataclass(frozen=True)
class Plan:
    """An operation compiled for one set of values of its @skip/@include conditions."""

    root: FieldNode | None  # the staff field (its arguments), if the document reads the list
    # the response's keys, in order: (key, __typename) for __typename, (key, None) for the
    # list, (key, i) for the i-th of ``others``
    keys: tuple[tuple[str, str | int | None], ...]
    complete: Complete | None  # completes the connection
    needs: frozenset[str]  # what the page reads besides its rows (VALUES, COUNT)
    columns: PageColumns  # what the page reads of its rows and their managers
    others: tuple[Record | Resolved, ...] = ()  # the other root fields, in order
    size: int = PLAN_BYTES  # the memory it holds, estimated (see ENTRY_BYTES)


class _Compiler:
    """Compiles one operation for one set of values of its @skip/@include conditions."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        conditions: dict[int, bool],
        *,
        records: bool = True,
    ):
        self.schema = schema
        # Whether objects of RECORD_TYPES may be completed here (they are SeenStaff only
        # where the plan reads them itself: the page and the record roots).
        self.records = records
        self.lists = 0  # lists the selection being compiled is inside
        self.fragments = fragments
        self.conditions = conditions  # id of a @skip/@include node: its `if`
        self.functions = 0  # generated, and their entries (what the plan holds)
        self.entries = 0
        self.needs: set[str] = set()  # what the page needs besides its rows
        # Columns the selections of records read: of page rows (True), of managers (False).
        self.reads: dict[bool, set[str] | None] = {True: set(), False: set()}
        # Columns the links of the reporting chains selected here read (CHAIN)
        self.chain: set[str] | None = set()

    # Field collection, as graphql-core's CollectFields does it.

    def included(self, node) -> bool:
        for directive in node.directives or ():
            value = self.conditions[id(directive)]
            if directive.name.value == GraphQLSkipDirective.name and value:
                return False
            if directive.name.value == GraphQLIncludeDirective.name and not value:
                return False
        return True

    def matches(self, fragment, type_: GraphQLObjectType) -> bool:
        if fragment.type_condition is None:
            return True
        condition = self.schema.get_type(fragment.type_condition.name.value)
        if condition is type_:
            return True
        return is_abstract_type(condition) and self.schema.is_sub_type(condition, type_)

    def collect(
        self,
        type_: GraphQLObjectType,
        selection_set: SelectionSetNode,
        grouped: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> dict[str, list[FieldNode]]:
        for node in selection_set.selections:
            if not self.included(node):
                continue
            if isinstance(node, FieldNode):
                key = node.alias.value if node.alias else node.name.value
                grouped.setdefault(key, []).append(node)
            elif isinstance(node, InlineFragmentNode):
                if self.matches(node, type_):
                    self.collect(type_, node.selection_set, grouped, visited)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                if name in visited:
                    continue
                visited.add(name)
                fragment = self.fragments.get(name)
                if fragment is not None and self.matches(fragment, type_):
                    self.collect(type_, fragment.selection_set, grouped, visited)
        return grouped

    def subfields(
        self, type_: GraphQLObjectType, nodes: list[FieldNode]
    ) -> dict[str, list[FieldNode]]:
        grouped: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()
        for node in nodes:
            if node.selection_set is not None:
                self.collect(type_, node.selection_set, grouped, visited)
        return grouped

    # Completion.

    def selection(
        self, type_: GraphQLObjectType, nodes: list[FieldNode], *, page_rows: bool
    ) -> Complete:
        if type_.name in RECORD_TYPES and not self.records:
            raise NotCovered("a record the plan does not read itself")
        entries = [
            self.field(type_, field_nodes, key, page_rows=page_rows)
            for key, field_nodes in self.subfields(type_, nodes).items()
        ]
        self.functions += 1
        self.entries += len(entries)
        return _generate(type_.name, entries, record=type_.name in RECORD_TYPES)

    def size(self) -> int:
        return FUNCTION_BYTES * self.functions + ENTRY_BYTES * self.entries

    def field(
        self, type_: GraphQLObjectType, nodes: list[FieldNode], key: str, *, page_rows: bool
    ) -> _Entry:
        node = nodes[0]
        name = node.name.value
        if name == "__typename":
            return _Entry(key, constant=type_.name)
        known = (type_.name, name)
        if node.arguments and known not in AWAITED:
            raise NotCovered("field arguments")
        definition = type_.fields[name]
        if type_.name in RECORD_TYPES:
            self.record_reads(RECORD_TYPES[type_.name], definition, page_rows)
        special = PREFETCHED.get(known)
        attribute = read = get = awaited = None
        if special is not None and (page_rows or not special[1]):
            python_name = _plain(definition).python_name
            get, _, needs = special
            if type_.name == "Staff" and any(staff_type.NEEDS.get(python_name, ())):
                get = _unless_hidden(python_name, get)
            if needs is not None:
                self.needs.add(needs)
        elif known in AWAITED:
            _plain(definition)
            if self.lists:
                raise NotCovered("a field that reads rows, for each item of a list")
            awaited = AWAITED[known]
            if page_rows and known == ("Staff", "reportingChain"):
                # a record root's own (not its manager's): its statement reads the chain
                self.needs.add(CHAIN)
        elif special is not None:
            raise NotCovered("related rows of related rows")
        else:
            attribute, read = self.getter(definition, RECORD_TYPES.get(type_.name))
        # rows of the page's own records, not of what an AWAITED field reads
        nested_page_rows = page_rows and known in PAGE_ROW_FIELDS and awaited is None
        if awaited is not None and known in OWN_READS:
            # the records this field reads come with the columns their selection reads
            outer, self.reads[False] = self.reads[False], set()
            try:
                complete, non_null = self.completion(definition.type, nodes, page_rows=False)
            finally:
                own, self.reads[False] = self.reads[False], outer
            if known == ("Staff", "directReports"):
                awaited = functools.partial(
                    awaited, columns=PageColumns(staff=_frozen(own), managers=False)
                )
            else:  # a chain read with its record is primed for every chain of the plan
                self.chain = None if own is None or self.chain is None else self.chain | own
        else:
            complete, non_null = self.completion(definition.type, nodes, page_rows=nested_page_rows)
        leaf = definition.type.of_type if non_null else definition.type
        return _Entry(
            key,
            attribute=attribute,
            read=read,
            get=get,
            awaited=awaited,
            argued=(definition, node) if awaited is not None else None,
            complete=complete,
            fast=_fast(leaf),
            nullable=not non_null,
        )

    def record_reads(self, record: RecordType, definition, page_rows: bool) -> None:
        """Notes the columns a record type's field reads (all, when it does not say)."""
        name = definition.extensions["strawberry-definition"].python_name
        wanted = self.reads[page_rows]
        if wanted is None:
            return
        if name in record.columns:
            wanted.add(name)
        elif name in record.reads:
            wanted.update(record.reads[name])
        else:
            self.reads[page_rows] = None

    def chained(self) -> tuple[frozenset[str] | None, frozenset[str] | None]:
        """What a record root read with its reporting chain (CHAIN) reads of its rows
        (all: None): of the record and its manager (the chain's first link), and of the
        links of every reporting chain selected here (``chain_columns``)."""
        own = self.reads[True], self.reads[False]
        mine = None if None in own else frozenset().union(*own)  # type: ignore[arg-type]
        return mine, _frozen(self.chain)

    def columns(self) -> PageColumns:
        wanted = {rows: None if r is None else frozenset(r) for rows, r in self.reads.items()}
        return PageColumns(
            staff=wanted[True], manager=wanted[False], managers=MANAGERS in self.needs
        )

    def getter(
        self, definition, record: RecordType | None = None
    ) -> tuple[str | None, Callable | None]:
        """What a field reads: an expression inline (an attribute of the object, or for a
        record type a column as its viewer sees it), or a function of the object (a
        derived value, a resolver taking only ``self``)."""
        strawberry_field = _plain(definition)
        resolver = strawberry_field.base_resolver
        name = strawberry_field.python_name
        if resolver is None and not name.isidentifier():
            raise NotCovered("an attribute that is not an identifier")
        if resolver is None and record is not None:
            if name in record.columns:
                condition = SHOWN_IF[record.columns[name]]
                column = f"row.{name}"
                return (
                    column if condition is None else f"({column} if {condition} else None)"
                ), None
            if name in record.derived:
                return None, record.derived[name]
            raise NotCovered("a field of a record type that is neither a column nor derived")
        if resolver is None:
            return f"obj.{name}", None
        takes_more_than_self = any(
            parameter is not None and getattr(reserved, "name", None) != "self"
            for reserved, parameter in resolver.reserved_parameters.items()
        )
        if resolver.is_async or resolver.arguments or takes_more_than_self:
            raise NotCovered("a resolver that loads or takes more than self")
        return None, resolver.wrapped_func

    def completion(
        self, type_, nodes: list[FieldNode], *, page_rows: bool
    ) -> tuple[Complete, bool]:
        """How a value of ``type_`` completes when it is not null, and whether the type
        is non-null (null checks are the caller's, inline in the generated code)."""
        non_null = isinstance(type_, GraphQLNonNull)
        if non_null:
            type_ = type_.of_type
        leaf = nodes[0].selection_set is None
        if isinstance(type_, GraphQLList):
            self.lists += 1
            item, item_non_null = self.completion(type_.of_type, nodes, page_rows=page_rows)
            self.lists -= 1
            if item_non_null:

                def done(value, fetched):
                    return [_null() if v is None else item(v, fetched) for v in value]

            else:

                def done(value, fetched):
                    return [None if v is None else item(v, fetched) for v in value]

        elif isinstance(type_, GraphQLObjectType):
            if leaf:
                raise NotCovered("an object without a selection")
            done = self.selection(type_, nodes, page_rows=page_rows)
        elif leaf and isinstance(type_, GraphQLEnumType):
            done = _enum(type_)
        elif leaf and hasattr(type_, "serialize"):
            done = _leaf(type_)
        else:
            raise NotCovered("abstract types")
        return done, non_null


def _input(type_: GraphQLInputObjectType, value: dict | None):
    """A coerced input object (keyed by GraphQL names) as the strawberry input the
    resolver would get: graphql-core has already coerced its scalars and enums; an input
    with inputs inside is graphql-core's to answer."""
    if value is None:
        return None
    kwargs = {}
    for name, item in value.items():
        input_field = type_.fields[name]
        if isinstance(get_named_type(input_field.type), GraphQLInputObjectType):
            raise Fallback("nested input objects")
        if isinstance(item, list):
            item = list(item)  # its own, as graphql-core's coercion makes one each time
        kwargs[input_field.extensions["strawberry-definition"].python_name] = item
    return type_.extensions["strawberry-definition"].origin(**kwargs)


class Variables(VariableValues):
    """A request's coerced variables (graphql-core's), with its document's arguments
    written without a variable (``literals``), coerced once and kept with the document.

    Such arguments coerce to the same values on every request; graphql-core's coercion
    of them (``get_argument_values``) cost a page of the README's chart tour about 8% of
    its plan's CPU. They are keyed by the ids of their node and of the field's (or
    directive's) definition: the document holds its nodes and the schema its definitions,
    so neither id is reused while the document is kept, and the values go with it. The
    values are shared between requests: their readers copy what they pass on (lists, and
    input objects, as ``_arguments`` and ``_input`` do) and change nothing.
    """

    literals: dict[tuple[int, int], dict]

    @classmethod
    def of(cls, coerced: VariableValues, literals: dict[tuple[int, int], dict]) -> Variables:
        variables = cls(*coerced)
        variables.literals = literals
        return variables


def _mentions_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_mentions_variable(v) for v in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_mentions_variable(f.value) for f in value.fields)
    return False


def _argument_values(definition, node: FieldNode | DirectiveNode, coerced: Any) -> dict:
    """graphql-core's coercion of the arguments of ``node``; once per document for those
    written without a variable (see ``Variables``)."""
    literals = coerced.literals if isinstance(coerced, Variables) else None
    if literals is None:
        return get_argument_values(definition, node, coerced)
    key = (id(node), id(definition))
    values = literals.get(key)
    if values is None:
        values = get_argument_values(definition, node, coerced)
        if not any(_mentions_variable(a.value) for a in node.arguments or ()):
            literals[key] = values
    return values


def _arguments(definition, node: FieldNode, coerced: Any) -> dict[str, Any]:
    """A field's arguments as strawberry passes them to its resolver: coerced by
    graphql-core (defaults included; enums are already their Python members), keyed by
    their Python names, an input object built as ``_input`` builds it; a list of scalars
    or enums as graphql-core coerced it (strawberry passes its items as they are). A list
    of input objects is graphql-core's to answer."""
    kwargs = {}
    for name, value in _argument_values(definition, node, coerced).items():
        argument = definition.args[name]
        type_ = (
            argument.type.of_type if isinstance(argument.type, GraphQLNonNull) else argument.type
        )
        if isinstance(type_, GraphQLList):
            item = type_.of_type
            if isinstance(item, GraphQLNonNull):
                item = item.of_type
            if isinstance(item, GraphQLList | GraphQLInputObjectType):
                raise Fallback("lists of lists or of input objects")
            # a list of its own, as strawberry makes one (a default value is shared)
            value = None if value is None else list(value)
        if isinstance(type_, GraphQLInputObjectType):
            value = _input(type_, value)
        kwargs[argument.extensions["strawberry-definition"].python_name] = value
    return kwargs


def _plain(definition):
    """The field's strawberry definition, if nothing but its resolver stands between a
    request and its value (no field extensions, no permission classes)."""
    strawberry_field = definition.extensions.get("strawberry-definition")
    if strawberry_field is None or strawberry_field.extensions:
        raise NotCovered("not a plain strawberry field")
    if getattr(strawberry_field, "permission_classes", None):
        raise NotCovered("permission classes")
    return strawberry_field


def _null():
    raise Fallback("null in a non-null field")


def _leaf(type_) -> Complete:
    """The scalar's own serialize; text and booleans of the exact Python type are what
    serialize would return them as, so they skip the call."""
    serialize = type_.serialize
    unchanged = UNCHANGED.get(type_.name)

    def leaf(value, fetched):
        if type(value) is unchanged:
            return value
        result = serialize(value)
        if result is None or result is Undefined:
            raise Fallback("a value the scalar cannot serialize")
        return result

    return leaf


def _enum(type_: GraphQLEnumType) -> Complete:
    """The enum's own serialize, remembered per (Python type, value): an enum has a few
    values, and serialize is a pure function of them."""
    serialize = type_.serialize
    known: dict = {}

    def enum(value, fetched):
        key = (type(value), value)
        try:
            return known[key]
        except KeyError:
            remember = len(known) < MAX_REMEMBERED_ENUM_VALUES
        except TypeError:  # unhashable: never remembered
            remember = False
        result = serialize(value)  # raises for a value the enum cannot serialize
        if remember:
            known[key] = result
        return result

    return enum


MAX_REMEMBERED_ENUM_VALUES = 64


# Scalars whose serialize returns a value of this exact Python type unchanged.
UNCHANGED = {"String": str, "ID": str, "Boolean": bool}
# The same, as inline conditions on a value ``{v}``: graphql-core's serialize returns it
# as it is exactly when the condition holds (32-bit ints, finite floats).
PASSES = {
    "String": "type({v}) is str",
    "ID": "type({v}) is str",
    "Boolean": "type({v}) is bool",
    "Int": "type({v}) is int and -2147483648 <= {v} <= 2147483647",
    "Float": "type({v}) is float and isfinite({v})",
}
# Strawberry's Date and DateTime serialize with ``methodcaller("isoformat")``: for a date
# or datetime that is the value's own isoformat(), called inline.
ISOFORMAT = "{v}.isoformat() if type({v}) in iso_types else {done}"


def _isoformat(serialize) -> bool:
    """Whether a scalar serializes with ``methodcaller("isoformat")`` (strawberry's Date
    and DateTime do), recognised by what it is rather than by importing strawberry's."""
    return isinstance(serialize, operator.methodcaller) and serialize.__reduce__() == (
        operator.methodcaller,
        ("isoformat",),
    )


def _fast(type_) -> str | None:
    """An inline completion of a not-null value ``{v}`` of this leaf type, giving what its
    serialize would, with ``{done}`` (the full completion) where it cannot tell; None
    when there is none."""
    name = getattr(type_, "name", None)
    if name in PASSES:
        return f"{{v}} if {PASSES[name]} else {{done}}"
    if _isoformat(getattr(type_, "serialize", None)):
        return ISOFORMAT
    return None


@dataclass(frozen=True)
class _Entry:
    """One selected field: where its value comes from and how it completes."""

    key: str
    constant: str | None = None  # __typename
    attribute: str | None = None  # an expression read inline (over ``obj``, or ``row``)
    read: Callable | None = None  # or a function of the object (derived values, resolvers)
    get: Getter | None = None  # or of the object and the page's prefetched relations
    awaited: Callable | None = None  # or read after completion (AWAITED)
    argued: tuple | None = None  # an AWAITED field's definition and node (its arguments)
    complete: Complete | None = None  # completes a value that is not null
    fast: str | None = None  # an inline completion of ``{v}`` falling back on ``{done}``
    nullable: bool = True


def _generate(type_name: str, entries: list[_Entry], *, record: bool = False) -> Complete:
    """One function per selection that builds the response object in a single dict
    display: plain attributes are read inline, text, booleans and in-range numbers pass
    through without a call and dates are formatted inline, which is most of what a page's
    completion costs.

    Like dataclasses' generated __init__, it is compiled from source. Only names a parser
    or a Python class already accepted go into it (response keys as ``repr`` literals,
    attributes checked with ``isidentifier``); every value is passed in by name.
    """
    namespace: dict[str, Any] = {
        "isfinite": math.isfinite,
        "null": _null,
        "iso_types": (datetime, date),
    }
    lines = ["def complete(obj, fetched):"]
    items = []
    pending = []
    for i, e in enumerate(entries):
        if e.constant is not None:
            items.append(f"{e.key!r}: {e.constant!r}")
            continue
        if e.awaited is not None:  # in its place in the response, filled in once read
            namespace[f"a{i}"], namespace[f"c{i}"] = e.awaited, e.complete
            namespace[f"p{i}"] = e.argued
            items.append(f"{e.key!r}: None")
            pending.append(f"({e.key!r}, obj, a{i}, c{i}, {e.nullable!r}, p{i})")
            continue
        if e.attribute is not None:
            lines.append(f"    v{i} = {e.attribute}")
        elif e.read is not None:
            namespace[f"r{i}"] = e.read
            lines.append(f"    v{i} = r{i}(obj)")
        else:
            namespace[f"g{i}"] = e.get
            lines.append(f"    v{i} = g{i}(obj, fetched)")
        namespace[f"c{i}"] = e.complete
        v = f"v{i}"
        done = f"c{i}({v}, fetched)"
        if e.fast is not None:
            done = "(" + e.fast.format(v=v, done=done) + ")"
        null = "None" if e.nullable else "null()"
        items.append(f"{e.key!r}: {null} if {v} is None else {done}")
    if pending:
        lines.append("    completed = {" + ", ".join(items) + "}")
        lines += [f"    fetched.pending.append((completed, *{p}))" for p in pending]
        lines.append("    return completed")
    else:
        lines.append("    return {" + ", ".join(items) + "}")
    if record:  # obj is a SeenStaff: its columns are read as its viewer sees them
        lines[1:1] = _record_reads("\n".join(lines[1:]))
    exec(selection_code("\n".join(lines), type_name), namespace)
    complete = namespace["complete"]
    # Its own copy of the code: the interpreter specializes a code object's instructions
    # for the globals and callables it meets, and functions sharing one (the same
    # selection in two plans, or spread twice in one) would keep undoing each other's
    # (a quarter slower per call, alternating); a copy costs microseconds, compiling
    # hundreds.
    complete.__code__ = complete.__code__.replace()
    return complete


def _record_reads(body: str) -> list[str]:
    """The lines reading what a record's completion uses (``body``): its row and those of
    the viewer's sight of it (SeenStaff decides each when first asked) that its
    conditions name (SHOWN_IF)."""
    names = set(re.findall(r"\b(row|profile|details|personal)\b", body))
    reads = ["    row = obj._row"] if "row" in names else []
    sight = [n for n in ("profile", "details", "personal") if n in names]
    if sight:
        reads.append("    if not obj._judged: obj._judge()")
    return reads + [f"    {n} = obj._seen_{n}" for n in sight]


# Compiled selections kept by their source (beyond the plans' own copies of their code,
# which their budget counts): at most this many, about 35 KiB each for a selection of
# every Staff field, so a few MiB.
CODE_CACHE = 128


@functools.lru_cache(maxsize=CODE_CACHE)
def selection_code(source: str, type_name: str) -> CodeType:
    """A selection's source, compiled. Compiling is most of what a new plan costs, and a
    source recurs: a fragment spread in several places of a document (each spread is
    completed by a function of its own, from the same text), the same sub-selection (an
    address, a custom field's value) in many documents. The source holds only names; what
    they stand for comes with each function's own namespace."""
    return compile(source, f"<hot plan: {type_name}>", "exec")


# The fields whose objects are rows of the page (their related rows are prefetched).
PAGE_ROW_FIELDS = {
    ("Query", "staff"),
    ("StaffConnection", "edges"),
    ("StaffConnection", "nodes"),
    ("StaffEdge", "node"),
}


# Every HotPaths, to forget their plans when a field table changes (``app.fields``): a
# plan has the visibility of each field it reads compiled in.
_INSTANCES: weakref.WeakSet[HotPaths] = weakref.WeakSet()


@on_change
def _forget_plans() -> None:
    for hot in list(_INSTANCES):
        hot.clear()


@dataclass
class _Document:
    """An operation of a document that reads the directory, and its plans: one per
    combination of the values of its @skip/@include conditions."""

    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    conditions: tuple[DirectiveNode, ...]  # every @skip/@include it reaches, in order
    variants: OrderedDict[tuple[bool, ...], Plan | None] = field(default_factory=OrderedDict)
    size: int = 0  # the memory it holds with its plans, estimated
    kept: bool = False  # whether the cache holds it (its plans count towards the budget)
    # its arguments written without a variable, coerced once (see ``Variables``)
    literals: dict[tuple[int, int], dict] = field(default_factory=dict)


def _document_size(query: str) -> int:
    """The estimated memory a document kept holds, plans aside: its text (the key) and
    its parsed operation, or only the text when no plan covers it."""
    return DOCUMENT_BYTES + DOCUMENT_BYTES_PER_CHAR * len(query)


def _plan_size(plan: Plan | None) -> int:
    return PLAN_BYTES if plan is None else plan.size


def _conditions(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    found: list[DirectiveNode],
    visited: set[str],
) -> None:
    """The @skip/@include directives reachable from ``selection_set``; any other directive
    is not covered."""
    for node in selection_set.selections:
        for directive in node.directives or ():
            if directive.name.value not in (
                GraphQLSkipDirective.name,
                GraphQLIncludeDirective.name,
            ):
                raise NotCovered(f"the @{directive.name.value} directive")
            found.append(directive)
        if isinstance(node, FragmentSpreadNode):
            name = node.name.value
            if name not in visited and name in fragments:
                visited.add(name)
                fragment = fragments[name]
                if fragment.directives:
                    raise NotCovered("directives on a fragment definition")
                _conditions(fragment.selection_set, fragments, found, visited)
        elif isinstance(node, FieldNode | InlineFragmentNode) and node.selection_set:
            _conditions(node.selection_set, fragments, found, visited)


class HotPaths:
    """Plans for documents over the directory, compiled once per (document, operation
    name) and per values of their @skip/@include conditions."""

    def __init__(self, schema: GraphQLSchema, budget: int = DEFAULT_BUDGET):
        if schema.query_type is None:
            raise ValueError("a schema without a query type has no hot paths")
        self.schema = schema
        self.query_type = schema.query_type
        # Least recently used first; at most MAX_PLANS documents, and ``budget`` bytes by
        # the estimate (``held``) of the documents and their plans.
        self.plans: OrderedDict[tuple[str, str | None], _Document | None] = OrderedDict()
        self.budget = budget
        self.held = 0
        self.answered = 0  # requests the plans answered (the tests check they are used)
        self.compiled = 0  # plans compiled
        _INSTANCES.add(self)

    def document(
        self, query: str, operation_name: str | None, document: DocumentNode
    ) -> _Document | None:
        if len(query) > MAX_CACHED_DOCUMENT or not any(m in query for m in MENTIONS):
            return None  # too large to keep, or not about staff: graphql-core answers
        key = (query, operation_name)
        if key in self.plans:
            self.plans.move_to_end(key)
            return self.plans[key]
        try:
            prepared = self._prepare(document, operation_name)
        except NotCovered:
            prepared = None
        except Exception:  # a plan is an optimisation: never fail a request over one
            log.exception("could not compile a plan; graphql-core answers this document")
            prepared = None
        self.plans[key] = prepared
        size = _document_size(query)
        if prepared is not None:
            prepared.size = size
            prepared.kept = True
        self.held += size
        if len(self.plans) > MAX_PLANS:
            self._evict()
        self._trim(prepared)
        return prepared

    def clear(self) -> None:
        for prepared in self.plans.values():
            if prepared is not None:
                prepared.kept = False
        self.plans.clear()
        self.held = 0

    def _evict(self) -> None:
        """Forgets the least recently used document, with its plans."""
        (query, _), prepared = self.plans.popitem(last=False)
        if prepared is None:
            self.held -= _document_size(query)
        else:
            self.held -= prepared.size
            prepared.kept = False

    def _trim(self, current: _Document | None) -> None:
        """Keeps the estimate within the budget: forgets the least recently used documents
        (``current``, just used, is the most recent), then ``current``'s least recently
        used plans; a document or plan larger than the budget alone is not kept (it
        answers the request that compiled it, and is compiled again the next time)."""
        while self.held > self.budget and len(self.plans) > 1:
            self._evict()
        if self.held <= self.budget:
            return
        if current is not None and current.kept:
            variants = current.variants
            while self.held > self.budget and len(variants) > 1:
                size = _plan_size(variants.popitem(last=False)[1])
                current.size -= size
                self.held -= size
        if self.held > self.budget and self.plans:
            self._evict()

    def _prepare(self, document: DocumentNode, operation_name: str | None) -> _Document | None:
        operation = get_operation_ast(document, operation_name)
        if (
            operation is None
            or operation.operation != OperationType.QUERY
            or operation.directives
            or any(v.directives for v in operation.variable_definitions or ())
        ):
            return None
        for node in operation.selection_set.selections:
            if (
                isinstance(node, FieldNode)
                and not node.directives
                and node.name.value not in COVERED_ROOTS
            ):
                return None  # always in the response, and never the plans' to answer
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        found: list[DirectiveNode] = []
        _conditions(operation.selection_set, fragments, found, set())
        return _Document(operation, fragments, tuple(found))

    def plan_for(self, prepared: _Document, coerced) -> Plan | None:
        variant = tuple(
            bool(_argument_values(_DIRECTIVES[d.name.value], d, coerced)["if"])
            for d in prepared.conditions
        )
        variants = prepared.variants
        if variant in variants:
            variants.move_to_end(variant)
            return variants[variant]
        try:
            plan = self._compile(
                prepared, dict(zip(map(id, prepared.conditions), variant, strict=True))
            )
        except NotCovered:
            plan = None
        except Exception:
            log.exception("could not compile a plan; graphql-core answers this document")
            plan = None
        variants[variant] = plan
        size = _plan_size(plan)
        if len(variants) > MAX_VARIANTS:
            size -= _plan_size(variants.popitem(last=False)[1])
        prepared.size += size
        if prepared.kept:
            self.held += size
            self._trim(prepared)
        return plan

    def _compile(self, prepared: _Document, conditions: dict[int, bool]) -> Plan | None:
        compiler = _Compiler(self.schema, prepared.fragments, conditions)
        grouped = compiler.collect(self.query_type, prepared.operation.selection_set, {}, set())
        keys: list[tuple[str, str | int | None]] = []
        root_nodes: list[FieldNode] | None = None
        others: list[Record | Resolved] = []
        sizes: list[int] = []  # the other roots' generated functions, estimated
        for key, nodes in grouped.items():
            name = nodes[0].name.value
            if name == "__typename":
                keys.append((key, self.query_type.name))
            elif name == ROOT_FIELD and root_nodes is None:
                root_nodes = nodes
                keys.append((key, None))
            elif name in RECORD_ROOTS:
                if {a.name.value for a in nodes[0].arguments or ()} - RECORD_ROOTS[name]:
                    return None
                keys.append((key, len(others)))
                others.append(self._record(prepared, conditions, name, nodes, sizes))
            elif name in RESOLVED_ROOTS:
                keys.append((key, len(others)))
                others.append(self._resolved(prepared, conditions, name, nodes, sizes))
            else:
                return None
        if root_nodes is None and not others:
            return None
        others = chain_columns(others)
        root = complete = None
        if root_nodes is not None:
            root = root_nodes[0]
            if {a.name.value for a in root.arguments or ()} - ROOT_ARGUMENTS:
                return None
            _plain(self.query_type.fields[ROOT_FIELD])  # as every field it answers
            connection_type = self.query_type.fields[ROOT_FIELD].type.of_type
            complete = compiler.selection(connection_type, root_nodes, page_rows=True)
        self.compiled += 1
        return Plan(
            root,
            tuple(keys),
            complete,
            needs=frozenset(compiler.needs),
            columns=compiler.columns(),
            others=tuple(others),
            size=PLAN_BYTES + compiler.size() + sum(sizes),
        )

    def _record(
        self,
        prepared: _Document,
        conditions: dict[int, bool],
        name: str,
        nodes: list[FieldNode],
        sizes: list[int],
    ) -> Record:
        """A root field answering one record, compiled as a row of a page would be: its
        manager and custom fields are read for it alone. ``node``'s selection (of the Node
        interface) is collected for a Staff, as graphql-core collects it for a Staff
        object: fragments on Node and Staff apply, those on other types do not."""
        _plain(self.query_type.fields[name])  # as every field it answers
        compiler = _Compiler(self.schema, prepared.fragments, conditions)
        if name == NODE_FIELD:
            staff = self.schema.get_type("Staff")
            assert isinstance(staff, GraphQLObjectType)
        else:
            staff = get_named_type(self.query_type.fields[name].type)
        complete = compiler.selection(staff, nodes, page_rows=True)
        sizes.append(compiler.size())
        return Record(
            nodes[0], complete, frozenset(compiler.needs), compiler.columns(), *compiler.chained()
        )

    def _resolved(
        self,
        prepared: _Document,
        conditions: dict[int, bool],
        name: str,
        nodes: list[FieldNode],
        sizes: list[int],
    ) -> Resolved:
        """A root field of RESOLVED_ROOTS: what its function returns, completed by the
        generated functions. Nothing in it is prefetched (PREFETCHED is for a page of
        staff), and no staff record is completed in it: a field that loads related rows
        (an invitation's inviter, the viewer's own record) is not covered, unless it is
        AWAITED and not inside a list."""
        compiler = _Compiler(
            self.schema, prepared.fragments, conditions, records=name in SEEN_RECORDS
        )
        definition = self.query_type.fields[name]
        _plain(definition)
        complete, non_null = compiler.completion(definition.type, nodes, page_rows=False)
        if compiler.needs:
            raise NotCovered("related rows outside a page of staff")
        sizes.append(compiler.size())
        return Resolved(nodes[0], RESOLVED_ROOTS[name], complete, not non_null)

    async def answer(
        self, query: str, operation_name: str | None, document: DocumentNode, variables, ctx
    ) -> GraphQLExecutionResult | None:
        """The response, or None when graphql-core must answer (nothing is kept)."""
        prepared = self.document(query, operation_name, document)
        if prepared is None:
            return None
        if variables is not None and not isinstance(variables, dict):
            return None
        coerced = get_variable_values(
            self.schema, prepared.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):  # variables that do not coerce: graphql-core says why
            return None
        coerced = Variables.of(coerced, prepared.literals)
        try:
            plan = self.plan_for(prepared, coerced)
            if plan is None:
                return None
            data = await self._run(plan, coerced, ctx)
        except Exception as exc:
            if not isinstance(exc, EXPECTED):
                # Still answered right (by graphql-core), but at twice the cost: a plan
                # that fails this way is a bug (say, a column missing from READS).
                log.warning("hot path handed back request_id=%s", ctx.request_id, exc_info=exc)
            await ctx.close(commit=False)
            ctx.loaders.clear()
            return None
        await ctx.close(commit=False)
        self.answered += 1
        return GraphQLExecutionResult(data=data, errors=None)

    async def _run(self, plan: Plan, coerced: Any, ctx) -> dict:
        # What each other root looks up or is called with, before anything is read: an
        # id that is not a Staff's, or an argument the plan cannot pass on as strawberry
        # would, is graphql-core's to answer.
        arguments: list[Any] = [  # a record's key, a connection's arguments
            self._record_key(other, coerced)
            if isinstance(other, Record)
            else _arguments(self.query_type.fields[other.root.name.value], other.root, coerced)
            for other in plan.others
        ]
        # Each root takes the request's session as its resolver would, one after another;
        # the AWAITED fields they leave are read together once every root is complete, as
        # graphql-core reads sibling roots' fields, so that their DataLoaders batch (the
        # reporting chains of ``node`` and of ``staffBySid`` in one statement).
        completed: dict[str | int | None, Any] = {}
        if plan.root is not None and plan.complete is not None:
            async with ctx.as_actor() as (session, actor):
                completed[None] = await self._page(plan, coerced, session, actor)
        left: list[Prefetch] = []
        for i, other in enumerate(plan.others):
            fetched = Prefetch(coerced=coerced)
            if isinstance(other, Record):
                async with ctx.as_actor() as (session, actor):
                    completed[i] = await self._record_value(
                        other, arguments[i], session, actor, fetched, ctx
                    )
            else:
                completed[i] = await _resolve(other, arguments[i], ctx, fetched)
            left.append(fetched)
        await _settle(left, ctx)
        return {
            key: completed[kind] if kind is None or isinstance(kind, int) else kind
            for key, kind in plan.keys
        }

    async def _page(self, plan: Plan, coerced: Any, session, actor):
        assert plan.root is not None and plan.complete is not None
        field_ = self.query_type.fields[ROOT_FIELD]
        arguments = _argument_values(field_, plan.root, coerced)
        args = field_.args
        sort = _input(args["sort"].type, arguments.get("sort")) or StaffSortInput()
        query = StaffQuery(
            first=arguments.get("first", 50),
            after=arguments.get("after"),
            search=clean_search(arguments.get("search")),
            sort=sort.key,
            direction=sort.direction,
            filter=staff_filter(_input(args["filter"].type, arguments.get("filter"))),
        )
        fetched = Prefetch()
        page = await staff_service.list_staff(session, actor, query, plan.columns)
        fetched.manager_rows = page.managers
        if VALUES in plan.needs and page.rows:
            fetched.values = await custom_fields.values_for_staff(
                session, actor.account_id, [r.id for r in page.rows]
            )
        if COUNT in plan.needs:
            fetched.total = await staff_service.count_staff(session, actor, query)
        if STATUSES in plan.needs:
            fetched.statuses = await _statuses(session, actor, page.rows)
        connection = staff_connection(page, actor, count=None, node=SeenStaff)
        completed = plan.complete(connection, fetched)
        if fetched.pending:  # nothing on the page's own objects is AWAITED (see field())
            raise Fallback("a field read after completion on the page")
        return completed

    def _record_key(self, record: Record, coerced: Any) -> int:
        """What a record root looks up: the sid; for ``node``, the primary key of a Staff
        (as the resolver decodes it, ``node_key``). Any other id (malformed, or of another
        type) is handed to graphql-core."""
        name = record.root.name.value
        arguments = _argument_values(self.query_type.fields[name], record.root, coerced)
        if name != NODE_FIELD:
            return arguments["sid"]
        found = node_key(arguments["id"])
        if found is None or found[0] != "Staff":
            raise Fallback("not the id of a Staff")
        return found[1]

    async def _record_value(
        self, record: Record, key: int, session, actor, fetched: Prefetch, ctx
    ):
        """A record root: the record as the resolver finds it (``get_by_sid``;
        ``get_one`` for ``node``), its manager as it came with the record (as the
        resolver primes the records loader with it), its custom values as the page's
        are (its AWAITED fields are left in ``fetched`` for ``_settle``). Where it selects
        its own ``reportingChain``, the record is read with its chain in one statement
        (``get_with_chain``) and the chains' loader is given it, so that the field's
        function finds it there instead of reading it again."""
        by: RecordKey = "id" if record.root.name.value == NODE_FIELD else "sid"
        found: staff_service.FoundStaff
        if CHAIN in record.needs:
            with_chain = await staff_service.get_with_chain(
                session, actor, key, by=by, columns=record.chain_columns
            )
            if with_chain.row is not None:
                chains = loaders.reporting_chains(ctx, actor)
                chains.prime_many({with_chain.row.id: with_chain.chain})
            found = with_chain
        elif by == "id":
            found = await staff_service.get_one(session, actor, key, record.columns)
        else:
            found = await staff_service.get_by_sid(session, actor, key, record.columns)
        row, fetched.manager_rows = found.row, found.managers
        if row is None:
            return None
        if VALUES in record.needs:
            fetched.values = await custom_fields.values_for_staff(
                session, actor.account_id, [row.id]
            )
        if STATUSES in record.needs:
            fetched.statuses = await _statuses(session, actor, [row])
        return record.complete(SeenStaff(row, actor), fetched)


async def _resolve(root: Resolved, arguments: dict[str, Any], ctx, fetched: Prefetch) -> Any:
    """A root of RESOLVED_ROOTS: its function's object, completed (its AWAITED fields are
    left in ``fetched`` for ``_settle``)."""
    value = await root.fetch(ctx, **arguments)
    if value is None:
        if not root.nullable:
            raise Fallback("null in a non-null field")
        return None
    return root.complete(value, fetched)


async def _settle(fetches: list[Prefetch], ctx) -> None:
    """Reads the AWAITED fields left in each of ``fetches`` by completing objects, each by
    its function with its arguments as strawberry would pass them, and completes each in
    its place (with the Prefetch it was left in); then those found in them, and so on. The
    fields of one round are read side by side, as graphql-core resolves sibling fields, so
    that their DataLoaders batch (two records' reporting chains in one statement, as
    graphql-core reads them). One failing cancels the others (a TaskGroup), so nothing is
    left using the session when graphql-core takes the request over."""
    while any(f.pending for f in fetches):
        batch = [(f, item) for f in fetches for item in f.pending]
        for f in fetches:
            f.pending = []
        # the arguments first: one that does not coerce leaves no coroutine unawaited
        argued = [
            (read, obj, _arguments(definition, node, f.coerced) if node.arguments else {})
            for f, (_, _, obj, read, _, _, (definition, node)) in batch
        ]
        calls = [read(ctx, obj, **arguments) for read, obj, arguments in argued]
        found_all: list
        if len(calls) == 1:  # nothing to read beside it: no task to run it in
            found_all = [await calls[0]]
        else:
            try:
                async with asyncio.TaskGroup() as group:
                    reads = [group.create_task(call) for call in calls]
            except ExceptionGroup as failed:
                raise failed.exceptions[0] from None
            found_all = [r.result() for r in reads]
        for (f, (response, key, _, _, complete, nullable, _)), found in zip(
            batch, found_all, strict=True
        ):
            if found is None and not nullable:
                raise Fallback("null in a non-null field")
            response[key] = None if found is None else complete(found, f)


async def _statuses(session, actor, rows: list) -> dict:
    """The account's statuses, read only if one of ``rows`` shows one (as the resolver
    reads them only for a status it shows): no statement more than graphql-core's."""
    if any(
        r.status_id is not None and not staff_type.hidden(SeenStaff(r, actor), "status")
        for r in rows
    ):
        return await staff_service.statuses_by_id(session, actor.account_id)
    return {}


_DIRECTIVES = {d.name: d for d in (GraphQLSkipDirective, GraphQLIncludeDirective)}


class CompiledExecution(SchemaExtension):
    """Supplies the execution result of a query a plan covers, as strawberry's caching
    extensions do: set before execution, strawberry then skips graphql-core's. It runs
    after the document was parsed, validated and its cost checked (an earlier extension's
    result, such as CostLimit's refusal, is left as it is). An introspection query's
    answer, once graphql-core has given it, is supplied the same way
    (app.graphql.introspection)."""

    async def on_execute(self):
        ec = self.execution_context
        ctx = ec.context
        kept_as = None
        if (
            ec.result is None
            and isinstance(ec.query, str)
            and ec.graphql_document is not None
            and ec.operation_type == StrawberryOperationType.QUERY
        ):
            kept: KeptIntrospection = ec.schema.kept_introspection  # type: ignore[attr-defined]
            kept_as = kept.key(ec.query, ec.operation_name, ec.graphql_document, ec.variables)
            if kept_as is not None:
                data = kept.get(kept_as)
                if data is not None:
                    ec.result = GraphQLExecutionResult(data=data, errors=None)
                    kept_as = None
            elif ctx.services.settings.hot_paths:
                hot: HotPaths = ec.schema.hot_paths  # type: ignore[attr-defined]
                result = await hot.answer(
                    ec.query, ec.operation_name, ec.graphql_document, ec.variables, ctx
                )
                if result is not None:
                    ec.result = result
        yield
        if kept_as is not None:
            answered = ec.result
            if isinstance(answered, GraphQLExecutionResult) and not answered.errors:
                if answered.data is not None:
                    kept.keep(kept_as, answered.data)
