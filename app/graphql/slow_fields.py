"""One field that does slow work while holding the write lock per operation.

A mutation document runs in one write transaction (each root field in a savepoint of it):
on SQLite that transaction holds the whole server's writer lock, on PostgreSQL the locks
its fields took. Some root fields do slow work inside it (``slow_while_locked()``):

- every password check or hash but a login's (``PASSWORD_FIELDS``) runs while argon2
  works. Thirty aliased ``joinLinkJoin`` or ``signup`` fields in one document held the
  lock through thirty hashes in a row, each within the rate limits of its kind (which
  count per client and per hour, not per request). ``login`` is one of them: it holds no
  transaction while it hashes, but thirty logins in one request are thirty hashes too;
- a webhook endpoint's URL is resolved (``URL_RESOLVING_FIELDS``), a DNS look-up of a
  name the caller chose, which may take up to ``app.webhooks.urls.LOOKUP_SECONDS``:
  thirty aliased ``webhookEndpointUpdate`` fields held the lock through thirty. Like
  ``login``, each now holds no transaction while it waits (it commits its rate-limit
  count first), but thirty in one request are thirty look-ups in a row all the same;
- a staff file is checked row by row, and written (``IMPORT_FIELDS``): thirty aliased
  ``staffImport`` fields sharing one ``$csv`` variable checked thirty files in one
  request (the query cost counts each as about one field; the rows an account may have
  checked an hour are a rate limit of their own, ``staff_import_rows_account``).

So an operation may hold at most one root field of ``slow_while_locked()`` (fields of one
response key are merged and run once); more are refused before anything runs, saying to
send them as separate requests.

``@skip`` and ``@include`` are not read: two such fields of which one would run are refused
all the same (send the one meant). The walk is linear in the document: each fragment's
keys are gathered once (at most two are kept: two already refuse), however often and
however deep it is spread.
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
        "accountOwnershipTransfer",
    }
)
# Root mutation fields that resolve a webhook endpoint's URL (a DNS look-up, bounded by
# ``app.webhooks.urls.LOOKUP_SECONDS``), checked against the schema as ``PASSWORD_FIELDS``.
URL_RESOLVING_FIELDS = frozenset({"webhookEndpointCreate", "webhookEndpointUpdate"})
# Root mutation fields that check (and write) a staff file's rows, up to
# ``app.staff.bulk_import.MAX_ROWS`` of them, checked against the schema as the others.
IMPORT_FIELDS = frozenset({"staffImport"})
ENOUGH = 2  # response keys that refuse an operation


def slow_while_locked() -> frozenset[str]:
    """The root mutation fields that do slow work while holding the write lock
    (``PASSWORD_FIELDS``, ``URL_RESOLVING_FIELDS`` and ``IMPORT_FIELDS``), of which an
    operation may hold one. Read when a rule starts: the sets are the one source."""
    return PASSWORD_FIELDS | URL_RESOLVING_FIELDS | IMPORT_FIELDS


def unknown_slow_fields(schema: GraphQLSchema) -> set[str]:
    """Names in ``slow_while_locked()`` (the password, URL-resolving and import fields)
    that are no root mutation field of ``schema``."""
    mutation = schema.mutation_type
    return set(slow_while_locked()) - set(mutation.fields if mutation is not None else ())


class SlowFieldsPerOperation(ValidationRule):
    """Refuses a mutation with root fields of ``slow_while_locked()`` under more than one
    response key (aliases and fragments counted where they are spread)."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args):
        if node.operation != OperationType.MUTATION:
            return
        fragments = {
            f.name.value: f
            for f in self.context.document.definitions
            if isinstance(f, FragmentDefinitionNode)
        }
        keys = _Keys(fragments, slow_while_locked()).of(node.selection_set, frozenset())
        if len(keys) >= ENOUGH:
            names = ", ".join(sorted(name for _key, name in keys))
            self.report_error(
                GraphQLError(
                    "An operation may hold one field that does slow work while holding the "
                    "write lock (checking or setting a password, resolving a webhook URL, "
                    "importing a staff file); "
                    f"this one holds more ({names}): send them as separate requests.",
                    node,
                )
            )



class _Keys:
    """The (response key, field name) pairs of ``slow`` fields a selection set holds at its
    root, at most ``ENOUGH`` of them; each fragment's found once (``done``)."""

    def __init__(self, fragments: dict, slow: frozenset[str]):
        self.fragments = fragments
        self.slow = slow
        self.done: dict[str, frozenset] = {}

    def of(self, selection_set, visiting: frozenset) -> frozenset:
        found: set = set()
        for selection in selection_set.selections:
            if len(found) >= ENOUGH:
                break
            if isinstance(selection, FieldNode):
                if selection.name.value in self.slow:
                    key = (selection.alias or selection.name).value
                    found.add((key, selection.name.value))
            elif isinstance(selection, InlineFragmentNode):
                found |= self.of(selection.selection_set, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                found |= self.fragment(selection.name.value, visiting)
        return frozenset(sorted(found)[:ENOUGH])

    def fragment(self, name: str, visiting: frozenset) -> frozenset:
        if name in self.done:
            return self.done[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in visiting:  # unknown or cyclic: other rules report it
            return frozenset()
        keys = self.done[name] = self.of(fragment.selection_set, visiting | {name})
        return keys
