"""Query limits, checked before anything runs.

Each operation is summed up with its fragments expanded (each fragment summed once and
reused, so the work is linear in the document), so limits hold however a query is split
into fragments or padded with aliases:

- depth: nesting of selections;
- aliases: aliased fields, counted per use (a fragment spread twice counts twice);
- directives per location;
- cost: every field costs 1 (a JSON value holding a list, what the list can hold:
  ``VALUE_COSTS``), times the number of items every list around it can hold.

How many items a list can hold is declared once per list field, in ``LIST_BOUNDS``: a
connection its page (``first``, default 50, a variable counting as the largest page), a
connection's edges and nodes nothing more (the page is counted), a list of constants (roles,
permits) their number, and a list of account data its real upper bound in that account:
the number of custom fields, the most members one project has, and so on
(``app.accounts.sizes``). A list field without a declared bound is an error when the schema
is built, never a default.

Introspection is measured for what it is, never exempted: its data is the schema itself,
finite and known when the document is validated. An introspection field (``__schema``,
``__type``) costs exactly the fields it would resolve over this schema (walked until the
limit is passed, so the walk costs no more than the limit); its depth is its nesting, except
that an ``ofType`` chain holds data only as deep as the schema's most wrapped type reference
(``[String!]!`` is three wrappers): the levels past that never resolve and add no depth. A
chain of ``ofType`` longer than the depth limit is refused all the same. The standard
introspection queries of the tools (graphql-core, graphql-js and so GraphiQL and
graphql-codegen, Apollo, gql) fit the default limits; a document re-entering
``fields { type { fields ...`` is as deep and costly as it looks.

The cost is thus a polynomial in the account's sizes. Validation (cached per document)
refuses a document that is too costly even with one item in every such list; before
execution, ``check_cost`` evaluates it with the account's real sizes (one ``COUNT``
statement, skipped when the domain's caps already make it fit) and refuses the document if
it costs more than the limit. A list's size can only grow by what concurrent writes add
while the request runs.
"""

from __future__ import annotations

import math
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    StringValueNode,
    TypeMetaFieldDef,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
    is_enum_type,
    is_input_object_type,
    is_interface_type,
    is_list_type,
    is_object_type,
)
from graphql.utilities import get_operation_ast

from app.accounts import sizes as account_sizes
from app.accounts.sizes import Size
from app.audit.service import DIFF_ROWS_PER_ENTRY
from app.custom_fields.service import MAX_OPTIONS
from app.errors import MAX_REPORTED
from app.invitations.join_links import MAX_DOMAINS
from app.invitations.service import MAX_BULK
from app.webhooks.service import EVENT_TYPES, MAX_ATTEMPTS_SHOWN

DEFAULT_PAGE = 50
MAX_PAGE = 100


@dataclass(frozen=True)
class Bound:
    """How many items a list field can return, at most."""

    kind: str  # "page" | "items" | "const" | "size"
    count: int = 1
    size: Size | None = None


PAGE = Bound("page")  # a connection: its `first`
ITEMS = Bound("items")  # a connection's edges or nodes: the page is already counted


def const(count: int) -> Bound:
    return Bound("const", count=count)


def size(of: Size) -> Bound:
    return Bound("size", size=of)


# Lists of constants and of a mutation's own input.
_PERMITS = 16  # app.access.Permit has fewer (a test holds it)
_ROLES = 8  # app.access.Role has fewer (a test holds it)
_SCOPES = 8  # app.access.scopes.Scope has fewer (a test holds it)
_STAFF_KINDS = 8  # StaffKind has fewer (a test holds it)
_TIME_ZONES = 1000  # IANA names (a test holds it); a list of strings costs 1 anyway
_USER_ERRORS = MAX_REPORTED  # problems one refusal names (app.errors.ValidationFailed)
_ERROR_PATH = 8  # UserError.field: a path into the input
_IMPORT_REPORTED = 100  # staffImport's rows and errors (app.graphql.mutations.staff)
_IMPORT_CHANGED = 100  # columns named as changed in one staffImport row
_CHANGED_FIELDS = 64  # fields one event names (a staff record has fewer; a test holds it)
_ROW_ERRORS = 15  # problems of one bulk row: one per input field, and row-level ones (a test)

LIST_BOUNDS: dict[tuple[str, str], Bound] = {
    # connections and their pages
    ("Query", "staff"): PAGE,
    ("Query", "invitations"): PAGE,
    ("Query", "auditLog"): PAGE,
    ("Staff", "directReports"): PAGE,
    ("StaffConnection", "edges"): ITEMS,
    ("StaffConnection", "nodes"): ITEMS,
    ("InvitationConnection", "edges"): ITEMS,
    ("AuditEntryConnection", "edges"): ITEMS,
    ("Query", "webhookEndpoints"): PAGE,
    ("Query", "webhookDeliveries"): PAGE,
    ("WebhookEndpointConnection", "edges"): ITEMS,
    ("WebhookDeliveryConnection", "edges"): ITEMS,
    # lists of account data: their real sizes
    ("Query", "customFields"): size(Size.CUSTOM_FIELDS),
    ("Query", "customFieldValues"): size(Size.CUSTOM_VALUES),
    ("Query", "projects"): size(Size.PROJECTS),
    ("Query", "joinLinks"): size(Size.JOIN_LINKS),
    ("Query", "joinRequests"): size(Size.JOIN_REQUESTS),
    ("Staff", "customFields"): size(Size.ACTIVE_FIELDS),
    ("Staff", "projects"): size(Size.PROJECTS_PER_STAFF),
    ("Staff", "sharedWith"): size(Size.SHARES_PER_STAFF),
    # a chain of managers holds each record of the account at most once
    ("Staff", "reportingChain"): size(Size.STAFF),
    ("Project", "members"): size(Size.MEMBERS_PER_PROJECT),
    ("Picklists", "staffStatuses"): size(Size.STAFF_STATUSES),
    ("Picklists", "projectTeamRoles"): size(Size.TEAM_ROLES),
    ("Viewer", "accounts"): size(Size.MEMBERSHIPS),
    ("LoginPayload", "accounts"): size(Size.MEMBERSHIPS),
    ("Viewer", "apiTokens"): size(Size.API_TOKENS),
    ("Query", "apiTokens"): size(Size.ACCOUNT_API_TOKENS),
    # constants
    ("Staff", "permits"): const(_PERMITS),
    ("Viewer", "permits"): const(_PERMITS),
    ("RoleInfo", "permits"): const(_PERMITS),
    ("ApiToken", "scopes"): const(_SCOPES),
    ("Picklists", "roles"): const(_ROLES),
    ("Picklists", "staffKinds"): const(_STAFF_KINDS),
    ("Picklists", "timeZones"): const(_TIME_ZONES),
    ("CustomField", "options"): const(MAX_OPTIONS),
    ("WebhookEndpoint", "eventTypes"): const(len(EVENT_TYPES)),
    ("WebhookDelivery", "attempts"): const(MAX_ATTEMPTS_SHOWN),
    ("JoinLink", "allowedDomains"): const(MAX_DOMAINS),
    ("UserError", "field"): const(_ERROR_PATH),
    ("InvitationBulkCreatePayload", "results"): const(MAX_BULK),
    ("InvitationBulkRow", "userErrors"): const(_ROW_ERRORS),
    ("StaffImportPayload", "errors"): const(_IMPORT_REPORTED),
    ("StaffImportPayload", "rows"): const(_IMPORT_REPORTED),
    ("StaffImportRow", "changedColumns"): const(_IMPORT_CHANGED),
    ("StaffChange", "changedFields"): const(_CHANGED_FIELDS),
    ("CustomFieldChange", "changedFields"): const(_CHANGED_FIELDS),
}
# Every payload's userErrors (the Payload interface and each type implementing it).
USER_ERRORS = const(_USER_ERRORS)
# Scalars whose one value holds a list (JSON): they cost the items it can hold, not 1.
VALUE_COSTS: dict[tuple[str, str], int] = {
    ("AuditEntry", "diff"): DIFF_ROWS_PER_ENTRY,
}


def bound_of(type_name: str, field_name: str) -> Bound | None:
    found = LIST_BOUNDS.get((type_name, field_name))
    if found is None and field_name == "userErrors":
        return USER_ERRORS
    return found


def missing_bounds(schema: GraphQLSchema) -> list[str]:
    """List fields of the schema without a declared bound (building the schema fails)."""
    missing = []
    for name, type_ in schema.type_map.items():
        if name.startswith("__") or not hasattr(type_, "fields"):
            continue
        if not hasattr(type_, "interfaces"):  # input objects
            continue
        for field_name, definition in type_.fields.items():
            if is_list_type(get_nullable_type(definition.type)):
                if bound_of(name, field_name) is None:
                    missing.append(f"{name}.{field_name}")
    return missing


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int = 12
    max_aliases: int = 30
    max_directives: int = 3
    max_cost: int = 25_000


# Sizes multiplied together (sorted, repeats allowed); "$first" stands for the page size
# a variable gives (the largest page until the variable's value is known).
Monomial = tuple[Size | str, ...]


@dataclass
class Summary:
    """A selection set summed up: its depth, aliases, most directives in one place, and
    its cost as a polynomial in the account's sizes ({sizes multiplied: coefficient})."""

    depth: int = 0
    aliases: int = 0
    directives: int = 0
    cost: dict[Monomial, int] = field(default_factory=lambda: defaultdict(int))
    # introspection: the longest chain of nested ``ofType`` (and the one starting here);
    # whether an introspection field's walk was stopped past its budget (cost "more than")
    of_type: int = 0
    of_type_lead: int = 0
    over_budget: bool = False
    # ``evaluate()`` kept as the cost grows (one item in every list, the largest pages)
    floor: int = 0
    # why the cost stopped being summed (``_Summer.bound``): "cost", "terms" or "depth"
    cut: str | None = None

    def sizes(self) -> set[Size]:
        return {s for monomial in self.cost for s in monomial if isinstance(s, Size)}

    def evaluate(self, values: dict | None = None, default: int = 1) -> int:
        """The cost with these sizes (others ``default``) and page variables (others the
        largest page)."""
        values = values or {}

        def value(s) -> int:
            return values.get(s, default if isinstance(s, Size) else MAX_PAGE)

        return sum(
            coefficient * math.prod(value(s) for s in monomial)
            for monomial, coefficient in self.cost.items()
        )


def _page_size(node: FieldNode) -> int | str:
    for argument in node.arguments or ():
        if argument.name.value == "first":
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(0, int(value.value))
            if isinstance(value, VariableNode):
                # Not known during validation: the largest page until the value is known.
                return "$" + value.name.value
    return DEFAULT_PAGE


def page_variables(variables: dict | None) -> dict[str, int]:
    """The values of page-size variables as the cost counts them: an integer clamped to
    0..MAX_PAGE (larger pages are refused by the resolvers), anything else the largest."""
    out = {}
    for name, value in (variables or {}).items():
        if isinstance(value, int) and not isinstance(value, bool):
            out["$" + name] = min(max(value, 0), MAX_PAGE)
    return out


_META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}
# How far an introspection field's walk goes when no limit is given (see ``summarize``).
INTROSPECTION_BUDGET = 1_000_000
# Per schema, and weakly: a process that builds many schemas (the tests do) must not keep
# them all alive.
_WRAPPING: weakref.WeakKeyDictionary[GraphQLSchema, int] = weakref.WeakKeyDictionary()


def wrapping_depth(schema: GraphQLSchema) -> int:
    """The most wrappers (non-null, list) around any type reference of the schema."""
    found = _WRAPPING.get(schema)
    if found is not None:
        return found

    def wrappers(type_) -> int:
        n = 0
        while isinstance(type_, GraphQLList | GraphQLNonNull):
            n, type_ = n + 1, type_.of_type
        return n

    deepest = 0
    references = [a.type for d in schema.directives for a in d.args.values()]
    for type_ in schema.type_map.values():
        for definition in getattr(type_, "fields", {}).values():
            references.append(definition.type)
            references.extend(a.type for a in (getattr(definition, "args", None) or {}).values())
    for reference in references:
        deepest = max(deepest, wrappers(reference))
    _WRAPPING[schema] = deepest
    return deepest


class _OverBudget(Exception):
    pass


class _IntrospectionWalk:
    """The exact cost of an introspection selection: the fields it resolves over the
    schema, counted one by one and stopped once past ``budget``."""

    def __init__(self, schema: GraphQLSchema, fragments: dict, budget: int):
        self.schema = schema
        self.fragments = fragments
        self.left = budget

    def fields(self, type_name: str, selection_set, visiting: frozenset):
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or condition.name.value == type_name:
                    yield from self.fields(type_name, selection.selection_set, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in visiting:
                    if fragment.type_condition.name.value == type_name:
                        yield from self.fields(type_name, fragment.selection_set, visiting | {name})

    def walk(self, type_name: str, value, selection_set) -> None:
        for node in self.fields(type_name, selection_set, frozenset()):
            self.left -= 1
            if self.left < 0:
                raise _OverBudget
            if node.selection_set is None:
                continue
            child_type, items = self.resolve(type_name, value, node)
            for item in items:
                self.walk(child_type, item, node.selection_set)

    def resolve(self, type_name: str, value, node: FieldNode) -> tuple[str, list]:
        name = node.name.value
        schema = self.schema
        if type_name == "__Schema":
            if name == "types":
                return "__Type", list(schema.type_map.values())
            if name == "directives":
                return "__Directive", list(schema.directives)
            root = {
                "queryType": schema.query_type,
                "mutationType": schema.mutation_type,
                "subscriptionType": schema.subscription_type,
            }.get(name)
            return "__Type", [root] if root is not None else []
        if type_name == "__Type":
            if name == "fields" and (is_object_type(value) or is_interface_type(value)):
                return "__Field", list(value.fields.values())
            if name == "interfaces" and (is_object_type(value) or is_interface_type(value)):
                return "__Type", list(value.interfaces)
            if name == "possibleTypes" and is_abstract_type(value):
                return "__Type", list(schema.get_possible_types(value))
            if name == "enumValues" and is_enum_type(value):
                return "__EnumValue", list(value.values.values())
            if name == "inputFields" and is_input_object_type(value):
                return "__InputValue", list(value.fields.values())
            if name == "ofType" and isinstance(value, GraphQLList | GraphQLNonNull):
                return "__Type", [value.of_type]
            return "__Type", []
        if type_name in ("__Field", "__Directive") and name == "args":
            return "__InputValue", list(value.args.values())
        if type_name in ("__Field", "__InputValue") and name == "type":
            return "__Type", [value.type]
        return type_name, []

    def cost(self, node: FieldNode) -> int:
        """What the root introspection field ``node`` resolves (itself not counted)."""
        if node.selection_set is None:
            return 0
        if node.name.value == "__schema":
            self.walk("__Schema", self.schema, node.selection_set)
            return 0
        argument = next((a for a in node.arguments or () if a.name.value == "name"), None)
        if argument is not None and isinstance(argument.value, StringValueNode):
            found = self.schema.get_type(argument.value.value)
            candidates = [found] if found is not None else []
        else:  # a variable: every type counted (more than the costliest, in one budget)
            candidates = list(self.schema.type_map.values())
        for candidate in candidates:
            self.walk("__Type", candidate, node.selection_set)
        return 0


# How far past the limit a part's cost is summed exactly (``_Summer.cut_at``).
EXACT_PAST_THE_LIMIT = 1000
# The most terms one part's cost may have: a document's lists nested in more different ways
# than this are refused (``_Summer.bound``).
MAX_TERMS = 500


class _Summer:
    """Sums an operation up (``summarize``), each part only as far as it can matter.

    Each nested list multiplies the terms of the cost, and fragments spread under several
    lists in a chain make their number grow combinatorially: a document of a few kilobytes
    would need gigabytes and minutes, before any limit refused it. So the cost of a part is
    not summed past what refuses the operation (``bound``): the work is bounded by the
    document's size, whatever its shape."""

    def __init__(
        self, schema: GraphQLSchema, fragments: dict, budget: int, limit: int, max_depth: int
    ):
        self.schema = schema
        self.fragments = fragments
        self.budget = budget
        self.walk_left = budget
        # Past the limit a part is refused whatever the rest; it is summed on up to this
        # far, so a refusal says by how much (terms are bounded apart, by MAX_TERMS)
        self.cut_at = limit * EXACT_PAST_THE_LIMIT
        self.max_depth = max_depth
        self.done: dict[tuple[str, int], Summary] = {}
        # an ofType chain past this many levels resolves nothing more
        self.of_type_cap = wrapping_depth(schema) + 1

    def selection_set(self, parent, selection_set, visiting: frozenset, chain: int = 0) -> Summary:
        out = Summary(depth=1)
        for selection in selection_set.selections:
            out.directives = max(out.directives, len(selection.directives or ()))
            if isinstance(selection, FieldNode):
                if selection.alias is not None:
                    out.aliases += 1
                name = selection.name.value
                if selection.selection_set is None:
                    self.count(out, VALUE_COSTS.get((parent.name, name), 1))
                    continue
                self.count(out, 1)
                definition = getattr(parent, "fields", {}).get(name)
                meta = parent is self.schema.query_type and name in _META_FIELDS
                if meta:
                    definition = _META_FIELDS[name]
                if definition is None:
                    continue  # unknown field: other rules report it
                of_type = parent.name == "__Type" and name == "ofType"
                child = self.selection_set(
                    get_named_type(definition.type),
                    selection.selection_set,
                    visiting,
                    chain + 1 if of_type else 0,
                )
                counted = 0 if of_type and chain + 1 > self.of_type_cap else 1
                out.depth = max(out.depth, counted + child.depth)
                out.of_type = max(out.of_type, child.of_type)
                if of_type:
                    out.of_type_lead = max(out.of_type_lead, 1 + child.of_type_lead)
                    out.of_type = max(out.of_type, out.of_type_lead)
                if meta:
                    self.add(out, child, 0, ())  # aliases and directives; the cost is exact
                    self.count(out, self.introspection_cost(selection, out))
                    continue
                factor, sizes = self.factor(parent.name, definition, selection)
                self.add(out, child, factor, sizes)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                type_ = self.schema.get_type(condition.name.value) if condition else parent
                if type_ is None:
                    continue
                child = self.selection_set(type_, selection.selection_set, visiting, chain)
                self.merge(out, child)
            elif isinstance(selection, FragmentSpreadNode):
                spread = self.fragment(selection.name.value, visiting, chain)
                if spread is not None:
                    self.merge(out, spread)
        return out

    def count(self, out: Summary, cost: int) -> None:
        if out.cut is None:
            out.cost[()] += cost
            out.floor += cost
            self.bound(out)

    def bound(self, out: Summary) -> None:
        """Stops summing a part's cost once the operation is refused whatever the rest:
        past ``max_depth`` (its cost no longer matters), past ``MAX_TERMS`` terms, or past
        ``limit`` with one item in every list, far enough for the refusal to say by how
        much (``cut_at``; then it costs ``cut_at + 1``: every term counts at least 1 in
        ``floor``, and a part's cost only grows inside the parts around it, or is dropped
        by a page of 0, so the operation is over the limit just as with its whole
        polynomial)."""
        if out.cut is not None:
            return
        if out.depth > self.max_depth:
            self.cut(out, "depth")
        elif len(out.cost) > MAX_TERMS:
            self.cut(out, "terms")
        elif out.floor > self.cut_at:
            self.cut(out, "cost")

    def cut(self, out: Summary, why: str) -> None:
        """``out`` summed no further: past the depth, its cost no longer matters (none);
        past the terms or the cost, it costs ``cut_at + 1``."""
        out.cut = why
        if why == "depth":
            out.cost, out.floor = defaultdict(int), 0
        else:
            out.cost, out.floor = defaultdict(int, {(): self.cut_at + 1}), self.cut_at + 1
            out.over_budget = True

    def introspection_cost(self, node: FieldNode, out: Summary) -> int:
        """One budget for all the document's introspection fields: the walks of a document
        take at most ``budget`` steps together."""
        walk = _IntrospectionWalk(self.schema, self.fragments, self.walk_left)
        try:
            walk.cost(node)
        except _OverBudget:
            self.walk_left = 0
            out.over_budget = True
            return self.budget + 1
        used, self.walk_left = self.walk_left - walk.left, walk.left
        return used

    def merge(self, out: Summary, child: Summary) -> None:
        out.depth = max(out.depth, child.depth)
        out.of_type = max(out.of_type, child.of_type)
        out.of_type_lead = max(out.of_type_lead, child.of_type_lead)
        self.add(out, child, 1, ())

    def fragment(self, name: str, visiting: frozenset, chain: int = 0) -> Summary | None:
        key = (name, min(chain, self.of_type_cap))
        if key in self.done:
            return self.done[key]
        fragment = self.fragments.get(name)
        if fragment is None or name in visiting:
            return None  # unknown or cyclic: other rules report it
        type_ = self.schema.get_type(fragment.type_condition.name.value)
        if type_ is None:
            return None
        summary = self.done[key] = self.selection_set(
            type_, fragment.selection_set, visiting | {name}, chain
        )
        return summary

    def add(self, out: Summary, child: Summary, factor: int, sizes: Monomial) -> None:
        """``child``'s cost, times ``factor`` and ``sizes``, added to ``out``'s."""
        out.aliases += child.aliases
        out.directives = max(out.directives, child.directives)
        if child.cut == "depth" and out.cut != "depth":
            self.cut(out, "depth")
        if factor == 0 or out.cut is not None:
            self.bound(out)
            return  # a page of 0 counts nothing of its part; a cut part, nothing more
        if child.cut is not None:
            self.cut(out, child.cut)
            return
        out.over_budget = out.over_budget or child.over_budget
        for monomial, coefficient in child.cost.items():
            key = tuple(sorted(monomial + sizes)) if sizes else monomial
            out.cost[key] += coefficient * factor
        out.floor += child.floor * factor * MAX_PAGE ** sum(not isinstance(s, Size) for s in sizes)
        self.bound(out)

    @staticmethod
    def factor(type_name: str, definition, node: FieldNode) -> tuple[int, Monomial]:
        if type_name.startswith("__"):
            return 1, ()  # inside introspection: its root field counts the exact cost
        found = bound_of(type_name, node.name.value)
        if found is None:
            if is_list_type(get_nullable_type(definition.type)):
                raise LookupError(f"no bound declared for the list {type_name}.{node.name.value}")
            return 1, ()
        if found.kind == "page":
            page = _page_size(node)
            return (1, (page,)) if isinstance(page, str) else (page, ())
        if found.kind == "size" and found.size is not None:
            return 1, (found.size,)
        return found.count, ()  # items: 1; const: its count


def summarize(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    budget: int = INTROSPECTION_BUDGET,
    limit: int | None = None,
    max_depth: int = QueryLimits.max_depth,
) -> Summary:
    """The operation summed up; an introspection field's exact cost is counted up to
    ``budget`` (past it, ``over_budget`` is set and the cost is ``budget + 1``), and the
    cost of any part up to ``limit`` (by default ``budget``) and ``max_depth``
    (``_Summer.bound``)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = schema.get_root_type(operation.operation)
    if root is None:
        return Summary()
    summer = _Summer(
        schema, fragments, budget, budget if limit is None else limit, max_depth
    )
    return summer.selection_set(root, operation.selection_set, frozenset())


def make_rule(limits: QueryLimits):
    class QueryLimitsRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_):
            schema = self.context.schema
            summary = summarize(
                schema, self.context.document, node, limits.max_cost, max_depth=limits.max_depth
            )
            problems = []
            if summary.depth > limits.max_depth:
                problems.append(f"is {summary.depth} levels deep (at most {limits.max_depth})")
            if summary.of_type > limits.max_depth:
                problems.append(
                    f"nests {summary.of_type} ofType levels (at most {limits.max_depth}; "
                    f"this schema wraps a type at most {wrapping_depth(schema)} times)"
                )
            if summary.aliases > limits.max_aliases:
                problems.append(f"uses {summary.aliases} aliases (at most {limits.max_aliases})")
            if summary.directives > limits.max_directives:
                problems.append(
                    f"has {summary.directives} directives in one place "
                    f"(at most {limits.max_directives})"
                )
            cost = summary.evaluate()  # one item in every list of account data
            if summary.cut == "terms":
                problems.append(
                    f"nests its lists in more than {MAX_TERMS} different ways; ask for "
                    "fewer nested lists"
                )
            elif cost > limits.max_cost:
                costs = f"more than {limits.max_cost}" if summary.over_budget else str(cost)
                problems.append(
                    f"costs {costs} (at most {limits.max_cost}); ask for "
                    "smaller pages or fewer fields"
                )
            if problems:
                self.report_error(
                    GraphQLError("The query is too large: it " + "; it ".join(problems) + ".", node)
                )

    return QueryLimitsRule


# --- the cost with the account's real sizes, before execution ------------------------------

MAX_SUMMARIZED_DOCUMENT = 16 * 1024  # the longest document text whose summary is kept
# per schema (weakly, as _WRAPPING): (text, operation name) -> Summary, the oldest dropped first
_SUMMARIES: weakref.WeakKeyDictionary[GraphQLSchema, dict] = weakref.WeakKeyDictionary()
_SUMMARIES_KEPT = 256


def _summary(schema, document, operation_name, max_cost: int, max_depth: int) -> Summary | None:
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    return summarize(schema, document, operation, limit=max_cost, max_depth=max_depth)


def operation_summary(
    schema: GraphQLSchema,
    query: str | None,
    document: DocumentNode,
    operation_name,
    max_cost: int = QueryLimits.max_cost,
    max_depth: int = QueryLimits.max_depth,
) -> Summary | None:
    """The summary of the operation to run, its parts summed up to ``max_cost`` and
    ``max_depth`` as validation summed them (``_Summer.bound``): with other limits, a part
    validation priced could be cut here, and run unpriced. Kept per document text (the
    same text always parses to the same document)."""
    if query is None or len(query) > MAX_SUMMARIZED_DOCUMENT:
        return _summary(schema, document, operation_name, max_cost, max_depth)
    summaries = _SUMMARIES.get(schema)
    if summaries is None:
        summaries = _SUMMARIES[schema] = {}
    key = (query, operation_name, max_cost, max_depth)
    found = summaries.get(key)
    if found is None:
        found = summaries[key] = _summary(schema, document, operation_name, max_cost, max_depth)
        if len(summaries) > _SUMMARIES_KEPT:
            summaries.pop(next(iter(summaries)))
    return found


# Sizes of the largest account or user, used when a mutation has no account: read at most
# once a minute (they scan every account's rows).
_LARGEST_TTL_SECONDS = 60.0
_largest: dict[tuple[str, Size], tuple[float, int]] = {}


async def _sizes_for(ctx, wanted: set[Size], cap: int) -> dict[Size, int]:
    """The sizes of the request's account (or user), each count stopped at ``cap``.

    A query or subscription without an account (no token, or a user of several accounts
    who named none) or without a user reads no list of one: every such root refuses it
    before it reads anything. Its sizes are 0, never another tenant's: priced with the
    largest account's, its refusal told anyone how large the largest customer is. A
    mutation without one (``invitationAccept``, ``joinLinkJoin``) answers with a record of
    the account it joins, whose lists its payload may read, in an account not known
    before it runs: it is priced with the largest account's sizes, as the bound."""
    known: dict[Size, int] = ctx.loaders.setdefault("account_sizes", {})
    missing = wanted - known.keys()
    if not missing:
        return known
    # Before anything else, the cost check is usually what authenticates the request: the
    # authentication's statement then counts the actor's sizes too (no statement of their
    # own).
    counted = await ctx.counted_with_actor(account_sizes.counting(missing, cap))
    if counted is not None:
        known.update(account_sizes.counted(missing, counted))
        return known
    actor = await ctx.optional_actor()
    async with ctx.as_anyone() as (session, principal):
        account_id = actor.account_id if actor is not None else None
        user_id = principal.user_id if principal is not None else None
        scoped = {
            s
            for s in missing
            if (user_id if s in (Size.MEMBERSHIPS, Size.API_TOKENS) else account_id) is not None
        }
        known.update(
            await account_sizes.sizes(
                session, scoped, account_id=account_id, user_id=user_id, cap=cap
            )
        )
        if not ctx.write:
            known.update(dict.fromkeys(missing - scoped, 0))
            return known
        now = time.monotonic()
        database = str(ctx.services.settings.database_url)
        stale = {
            s
            for s in missing - scoped
            if _largest.get((database, s), (0.0, 0))[0] < now - _LARGEST_TTL_SECONDS
        }
        for s, value in (
            await account_sizes.sizes(session, stale, account_id=None, user_id=None)
        ).items():
            _largest[(database, s)] = (now, value)
        for s in missing - scoped:
            known[s] = _largest[(database, s)][1]
    return known


# A mutation's answer is built once its work is done: a list its root fields grew is priced
# at what bounds it then, not at its size before (a project made with 5,000 members, in an
# account whose projects had none, answered as if it had none). For each mutation field
# that grows one of these sizes, what one such root field may make it: ``ONE_MORE`` (one
# item more), or ``Given`` (a list the field sets at once: as long as its input list, as
# the document or its variables give it, at most the account-wide bound, plus what joins
# it anyway). Other mutations grow none of them (a staff import adds records to no project).
ONE_MORE = "one more"


@dataclass(frozen=True)
class Given:
    path: tuple[str, ...]  # the input list, from the root field's arguments
    bound: Size  # what bounds it whatever the input (ids not found are refused)
    joining: Size | None = None  # who joins besides (a new project's administrators)


GROWN_BY: dict[str, dict[Size, Given | str]] = {
    "projectCreate": {
        Size.MEMBERS_PER_PROJECT: Given(("input", "memberIds"), Size.STAFF, Size.ADMINISTRATORS),
        Size.PROJECTS_PER_STAFF: ONE_MORE,
    },
    "projectMembersSet": {
        Size.MEMBERS_PER_PROJECT: Given(("input", "staffIds"), Size.STAFF),
        Size.PROJECTS_PER_STAFF: ONE_MORE,
    },
    "projectMemberAdd": {
        Size.MEMBERS_PER_PROJECT: ONE_MORE,
        Size.PROJECTS_PER_STAFF: ONE_MORE,
    },
    "staffCreate": {
        Size.PROJECTS_PER_STAFF: Given(("input", "projectIds"), Size.PROJECTS),
        Size.MEMBERS_PER_PROJECT: ONE_MORE,
    },
    "staffShare": {Size.SHARES_PER_STAFF: ONE_MORE},
}


def root_fields(document: DocumentNode, operation_name: str | None) -> list[FieldNode]:
    """The fields the operation's top level selects (through its fragments), each as often
    as it is selected."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return []
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    found: list[FieldNode] = []
    seen: set[str] = set()
    todo = [operation.selection_set]
    while todo:
        for selection in todo.pop().selections:
            if isinstance(selection, FieldNode):
                found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                todo.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    todo.append(fragments[name].selection_set)
    return found


def _length(node: FieldNode, path: tuple[str, ...], variables: dict | None) -> int:
    """The length of the list at ``path`` in the field's arguments (literal, or a variable
    at any step); 0 where there is none (left out, null: nothing is set)."""
    value: Any = {a.name.value: a.value for a in node.arguments or ()}
    for key in path:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, ObjectValueNode):
            value = {f.name.value: f.value for f in value.fields}.get(key)
        else:
            return 0
        if isinstance(value, VariableNode):
            value = (variables or {}).get(value.name.value)
    if isinstance(value, ListValueNode):
        return len(value.values)
    if isinstance(value, list):
        return len(value)
    return 0


def _growth_sizes(roots: list[FieldNode], wanted: set[Size]) -> set[Size]:
    """What must be counted to price what ``roots`` may grow of ``wanted``."""
    needed: set[Size] = set()
    for root in roots:
        for s, how in GROWN_BY.get(root.name.value, {}).items():
            if s in wanted and isinstance(how, Given):
                needed |= {how.bound} | ({how.joining} if how.joining else set())
    return needed


def _grown(
    known: dict[Size, int], roots: list[FieldNode], wanted: set[Size], variables: dict | None
) -> dict[Size, int]:
    """The sizes of ``wanted`` that ``roots`` (a mutation's root fields) may grow, as they
    may be once those have run (``GROWN_BY``), from ``known`` (before)."""
    grown: dict[Size, int] = {}
    for root in roots:
        for s, how in GROWN_BY.get(root.name.value, {}).items():
            if s not in wanted:
                continue
            now = grown.get(s, known[s])
            if isinstance(how, Given):
                made = min(_length(root, how.path, variables), known[how.bound])
                made += known[how.joining] if how.joining else 0
                grown[s] = max(now, made)
            else:
                grown[s] = now + 1
    return grown


async def check_cost(
    ctx,
    summary: Summary | None,
    max_cost: int,
    variables: dict | None,
    *,
    mutation_roots: list[FieldNode] | None = None,
) -> GraphQLError | None:
    """The error refusing an operation that costs more than ``max_cost`` with the sizes of
    the request's account, or None. Counts only when the domain's caps do not settle it.
    ``mutation_roots``: a mutation's root fields, whose answers may hold lists they grew
    (``GROWN_BY``)."""
    if summary is None:
        return None
    wanted = summary.sizes()
    if not wanted:
        return None  # validation has priced it (pages given as variables at their largest)
    pages = page_variables(variables)
    if wanted <= account_sizes.CAPS.keys():
        if summary.evaluate({**account_sizes.CAPS, **pages}) <= max_cost:
            return None
    roots = mutation_roots or []
    # Sizes counted up to max_cost + 1: every term of the cost is a positive coefficient
    # times sizes and pages, so a size at that cap puts its term, and the cost, over the
    # limit exactly as its real value would (or adds 0 beside a size or page of 0).
    cap = max_cost + 1
    known = dict(await _sizes_for(ctx, wanted | _growth_sizes(roots, wanted), cap))
    known.update(_grown(known, roots, wanted, variables))
    cost = summary.evaluate({**known, **pages}, default=0)
    if cost <= max_cost:
        return None
    # No figure: the cost is made of the account's sizes, and the reader may not see
    # them all (disabled and restricted records, other members' keys, personal values).
    return GraphQLError(
        f"The query is too large for this account's data (it may cost at most {max_cost}); "
        "ask for smaller pages or fewer nested lists.",
        extensions={"code": "BAD_USER_INPUT"},
    )
