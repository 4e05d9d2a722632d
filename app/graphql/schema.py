"""The schema: queries, mutations and the extensions that run every request."""

from __future__ import annotations

import copy
import functools

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.tools import merge_types

from app.graphql.extensions import DocumentCache, RequestLifecycle, TakeTurns
from app.graphql.hot import DEFAULT_BUDGET, CompiledExecution, HotPaths
from app.graphql.introspection import KeptIntrospection
from app.graphql.limits import QueryLimits, make_rule, missing_bounds
from app.graphql.mutations.accounts import AccountMutations
from app.graphql.mutations.custom_fields import CustomFieldMutations
from app.graphql.mutations.identity import IdentityMutations, SessionMutations
from app.graphql.mutations.invitations import InvitationMutations
from app.graphql.mutations.projects import ProjectMutations
from app.graphql.mutations.staff import (
    StaffImportMutations,
    StaffMembershipMutations,
    StaffMutations,
)
from app.graphql.mutations.webhooks import WebhookMutations, WebhookQueries
from app.graphql.queries import Query
from app.graphql.request_body import NoBadCharactersRule
from app.graphql.slow_fields import SlowFieldsPerOperation, unknown_slow_fields
from app.graphql.subscriptions import Subscription
from app.graphql.types.account import Account, User
from app.graphql.types.custom_fields import CustomField
from app.graphql.types.invitations import Invitation, JoinLink, JoinRequest
from app.graphql.types.staff import Staff, StaffStatus

# One module of app.graphql.mutations per domain package of app; the order here is the
# order of the Mutation fields in schema.graphql.
Mutation = merge_types(
    "Mutation",
    (
        SessionMutations,
        StaffMembershipMutations,
        AccountMutations,
        IdentityMutations,
        StaffMutations,
        StaffImportMutations,
        InvitationMutations,
        CustomFieldMutations,
        ProjectMutations,
        WebhookMutations,
    ),
)
# The root query: its fields, then those of the domains added since, by domain.
RootQuery = merge_types("Query", (Query, WebhookQueries))


class RosterSchema(strawberry.Schema):
    hot_paths: HotPaths  # compiled plans answering the hot documents (see app.graphql.hot)
    kept_introspection: KeptIntrospection  # introspection's answers (app.graphql.introspection)

    def process_errors(self, errors, execution_context=None) -> None:
        """Errors are logged (with the request id) by RequestLifecycle instead."""


def build_schema(
    *,
    production: bool = False,
    limits: QueryLimits | None = None,
    max_tokens: int = 3000,
    plan_budget: int = DEFAULT_BUDGET,
) -> RosterSchema:
    """The schema an app serves: its types and rules are built once per process and
    settings (``_types_and_rules``, about 50 ms of strawberry's conversion); what a server
    learns while it runs, its compiled plans and kept introspection answers, is its own."""
    schema = copy.copy(_types_and_rules(production, limits or QueryLimits(), max_tokens))
    # checked on every build: LIST_BOUNDS is data the cached types do not capture
    if missing := missing_bounds(schema._schema):
        raise RuntimeError("list fields without a bound in LIST_BOUNDS: " + ", ".join(missing))
    if unknown := unknown_slow_fields(schema._schema):
        raise RuntimeError("slow_fields names no mutation: " + ", ".join(sorted(unknown)))
    schema.hot_paths = HotPaths(schema._schema, budget=plan_budget)
    schema.kept_introspection = KeptIntrospection()
    return schema


# The distinct settings a process serves are few (one, in a server); the tests build more.
KEPT_SCHEMAS = 8


@functools.lru_cache(maxsize=KEPT_SCHEMAS)
def _types_and_rules(production: bool, limits: QueryLimits, max_tokens: int) -> RosterSchema:
    rules = [make_rule(limits), NoBadCharactersRule, SlowFieldsPerOperation]
    if production:
        rules.append(NoSchemaIntrospectionCustomRule)
    # Each extension, and each hook it has, costs every request strawberry's wrapping of
    # it (about 10 us a hook), so related work shares an extension.
    documents = DocumentCache(max_tokens=max_tokens, rules=tuple(rules))
    extensions: list = [
        # The unit of work, and the cost limit once it has chosen the kind of session (the
        # sizes are read in it). Clients repeat a handful of documents: it has each parsed
        # and validated once (bounded), with the token limit and the schema's rules.
        lambda: RequestLifecycle(
            max_cost=limits.max_cost, max_depth=limits.max_depth, documents=documents
        ),
        TakeTurns,
        # Last: supplies the result of the queries a compiled plan covers (app.graphql.hot)
        # once every other extension has seen the request up to execution.
        CompiledExecution,
    ]
    schema = RosterSchema(
        query=RootQuery,
        mutation=Mutation,
        subscription=Subscription,
        types=[Staff, Account, CustomField, StaffStatus, User, Invitation, JoinLink, JoinRequest],
        extensions=extensions,
    )
    return schema


def export_sdl() -> str:
    return build_schema().as_str() + "\n"
