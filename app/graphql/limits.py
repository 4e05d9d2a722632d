"""Query limits checked during validation, before anything runs.

Each operation is walked with its fragments expanded, so limits hold however a query is
split into fragments or padded with aliases:

- depth: nesting of selections;
- aliases: aliased fields, counted per use (a fragment spread twice counts twice);
- directives per location;
- cost: every field costs 1, times the page sizes of the connections around it
  (``first``, default 50) and a fixed factor for other lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    ValidationRule,
    VariableNode,
)

DEFAULT_PAGE = 50
MAX_PAGE = 100
LIST_FACTOR = 10
PAGED_FIELDS = {"staff", "invitations", "auditLog"}  # connections on Query
LIST_FIELDS = {
    "customFields",
    "customFieldValues",
    "members",
    "projects",
    "sharedWith",
    "accounts",
    "apiTokens",
    "joinLinks",
    "joinRequests",
    "permits",
    "timeZones",
    "roles",
    "staffStatuses",
    "projectTeamRoles",
    "nodes",
    "edges",
}


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int = 12
    max_aliases: int = 30
    max_directives: int = 3
    max_cost: int = 25_000


@dataclass
class _Tally:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    directives: int = 0


def _page_size(node: FieldNode) -> int:
    for argument in node.arguments or ():
        if argument.name.value == "first":
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(0, int(value.value))
            if isinstance(value, VariableNode):
                return MAX_PAGE  # not known during validation: assume the largest page
    return DEFAULT_PAGE


def make_rule(limits: QueryLimits):
    class QueryLimitsRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_):
            tally = _Tally()
            self._walk(node.selection_set, 1, 1, tally, set())
            problems = []
            if tally.depth > limits.max_depth:
                problems.append(f"is {tally.depth} levels deep (at most {limits.max_depth})")
            if tally.aliases > limits.max_aliases:
                problems.append(f"uses {tally.aliases} aliases (at most {limits.max_aliases})")
            if tally.directives > limits.max_directives:
                problems.append(
                    f"has {tally.directives} directives in one place "
                    f"(at most {limits.max_directives})"
                )
            if tally.cost > limits.max_cost:
                problems.append(
                    f"costs {tally.cost} (at most {limits.max_cost}); ask for "
                    "smaller pages or fewer fields"
                )
            if problems:
                self.report_error(
                    GraphQLError("The query is too large: it " + "; it ".join(problems) + ".", node)
                )

        def _walk(self, selection_set, depth, multiplier, tally, seen):
            if selection_set is None:
                return
            tally.depth = max(tally.depth, depth)
            for selection in selection_set.selections:
                tally.directives = max(tally.directives, len(selection.directives or ()))
                if isinstance(selection, FieldNode):
                    if selection.alias is not None:
                        tally.aliases += 1
                    tally.cost += multiplier
                    name = selection.name.value
                    factor = 1
                    if name in PAGED_FIELDS and depth == 1:  # root connections only
                        factor = max(1, _page_size(selection))
                    elif name in LIST_FIELDS:
                        factor = LIST_FACTOR if name not in ("edges", "nodes") else 1
                    if selection.selection_set is not None:
                        self._walk(
                            selection.selection_set, depth + 1, multiplier * factor, tally, seen
                        )
                elif isinstance(selection, InlineFragmentNode):
                    self._walk(selection.selection_set, depth, multiplier, tally, seen)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.context.get_fragment(name)
                    if fragment is None or name in seen:
                        continue  # unknown or cyclic: other rules report it
                    self._walk(fragment.selection_set, depth, multiplier, tally, seen | {name})

    return QueryLimitsRule
