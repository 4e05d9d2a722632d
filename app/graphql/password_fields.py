"""One field that checks or sets a password per operation.

A mutation document runs in one write transaction (each root field in a savepoint of it),
and every password check or hash but a login's runs inside it while argon2 works: on
SQLite that transaction holds the whole server's writer lock, on PostgreSQL the joined
account's lock. Thirty aliased ``joinLinkJoin`` or ``signup`` fields in one document held
the lock through thirty hashes in a row, each within the rate limits of its kind (which
count per client and per hour, not per request). So an operation may hold at most one root
field that checks or sets a password (``PASSWORD_FIELDS``); more are refused before anything
runs, saying to send them as separate requests. ``login`` is one of them: it holds no
transaction while it hashes, but thirty logins in one request are thirty hashes too.
"""

from __future__ import annotations

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    ValidationRule,
)

# Root mutation fields that verify or hash a password (argon2): each is checked against
# the schema when it is built (an unknown name is an error, never ignored).
PASSWORD_FIELDS = frozenset(
    {
        "login",
        "signup",
        "emailVerify",
        "passwordReset",
        "passwordChange",
        "invitationAccept",
        "joinLinkJoin",
        "accountSignup",
        "staffRegister",
        "accountOwnershipTransfer",
    }
)


def unknown_password_fields(schema: GraphQLSchema) -> set[str]:
    """Names in ``PASSWORD_FIELDS`` that are no root mutation field of ``schema``."""
    mutation = schema.mutation_type
    return set(PASSWORD_FIELDS) - set(mutation.fields if mutation is not None else ())


class PasswordFieldsPerOperation(ValidationRule):
    """Refuses a mutation with more than one root field of ``PASSWORD_FIELDS`` (fragments
    and aliases counted where they are spread)."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args):
        if node.operation != OperationType.MUTATION:
            return
        fragments = {
            f.name.value: f
            for f in self.context.document.definitions
            if isinstance(f, FragmentDefinitionNode)
        }
        found: list[FieldNode] = []
        self._collect(node.selection_set, fragments, found, frozenset())
        if len(found) > 1:
            names = ", ".join(sorted({f.name.value for f in found}))
            self.report_error(
                GraphQLError(
                    f"An operation may hold one field that checks or sets a password; this one "
                    f"holds {len(found)} ({names}): send them as separate requests.",
                    found[1:],
                )
            )

    def _collect(self, selection_set, fragments, found: list, visiting: frozenset) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value in PASSWORD_FIELDS:
                    found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                self._collect(selection.selection_set, fragments, found, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in visiting:  # cycles: other rules
                    self._collect(fragment.selection_set, fragments, found, visiting | {name})
