"""The request's unit of work and error policy, as one schema extension.

- Mutations get a writing session (``BEGIN IMMEDIATE`` on SQLite), queries a reading one.
- One commit point: after execution, a mutation commits unless something unexpected failed.
- A request refused by a rate limit is answered after ``RATE_LIMITED_DELAY_SECONDS``.
- Expected top-level errors keep their ``extensions.code``; GraphQL validation errors get
  BAD_USER_INPUT; anything else is masked as "Unexpected error" with the request id, and
  logged in full with that id.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import inspect
import logging
import re
import time
import weakref

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    get_named_type,
    is_composite_type,
    parse,
)
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from app.graphql.mutations.base import kept_a_change
from app.graphql.strawberry_internals import (
    CannotGetOperationTypeError,
    InvalidOperationTypeError,
    validate_document,
)

log = logging.getLogger("roster.graphql")

EXPECTED_CODES = {"UNAUTHENTICATED", "FORBIDDEN", "BAD_USER_INPUT", "RATE_LIMITED"}


_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def without_suggestions(message: str) -> str:
    """Production never hints at names the client did not send ("Did you mean ...?")."""
    return _SUGGESTION.sub("", message).strip()


def _is_unexpected(error: GraphQLError) -> bool:
    if (error.extensions or {}).get("code") in EXPECTED_CODES:
        return False
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


# Documents are cached only up to this many characters: client documents are a few KB,
# and a cache of 256 large documents would be a way to fill the server's memory.
MAX_CACHED_DOCUMENT = 16 * 1024
CACHED_DOCUMENTS = 256


@functools.lru_cache(maxsize=CACHED_DOCUMENTS)
def _parse(query: str, **options) -> DocumentNode:
    return parse(query, **options)


# Validation results, per schema: a bounded LRU of each schema's own. A cache keyed by the
# schema at module level would keep alive every schema it had seen until evicted (a server
# builds one; a process that builds many, as the tests do, kept hundreds).
_validated: weakref.WeakKeyDictionary[GraphQLSchema, collections.OrderedDict] = (
    weakref.WeakKeyDictionary()
)


def _validate(
    schema: GraphQLSchema, query: str, options: tuple, rules: tuple
) -> list[GraphQLError]:
    """Keyed by the document's text, whose hash Python keeps, not by its syntax tree,
    which would be hashed node by node on every request."""
    cache = _validated.get(schema)
    if cache is None:
        cache = _validated[schema] = collections.OrderedDict()
    key = (query, options, rules)
    errors = cache.get(key)
    if errors is None:
        errors = validate_document(schema, _parse(query, **dict(options)), rules)
        cache[key] = errors
        if len(cache) > CACHED_DOCUMENTS:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return errors


class DocumentCache:
    """Parses and validates each distinct document once (bounded LRUs; the token limit and
    the rules are part of the keys). Documents over ``MAX_CACHED_DOCUMENT`` characters, and
    documents that do not parse, are left to strawberry's own parsing and validation as
    they are.

    It sets what parsing and validation run with, the token limit (``max_tokens``) and the
    schema's own rules, as strawberry's ``MaxTokensLimiter`` and ``AddValidationRules`` do
    at the start of the operation. ``prepare`` runs there too, in ``RequestLifecycle``'s
    ``on_operation``, not in hooks of its own: strawberry skips parsing a document already
    set and validating one whose errors are, and each hook costs every request its
    wrapping (``on_parse`` and ``on_validate`` about 25 us together). Other extensions'
    ``on_parse`` and ``on_validate`` still run around those stages."""

    def __init__(self, *, max_tokens: int, rules: tuple = ()):
        self.max_tokens = max_tokens
        self.rules = tuple(rules)

    def prepare(self, ctx) -> None:
        """Sets ``ctx``'s parse options and rules, and its document and validation errors
        where the caches have (or now keep) them."""
        ctx.parse_options["max_tokens"] = self.max_tokens
        ctx.validation_rules = ctx.validation_rules + self.rules
        query = ctx.query
        if not isinstance(query, str) or len(query) > MAX_CACHED_DOCUMENT:
            return  # parsed once, by strawberry (a syntax error is not parsed twice)
        if ctx.graphql_document is None:
            with contextlib.suppress(GraphQLError):  # strawberry's parsing reports it
                ctx.graphql_document = _parse(query, **ctx.parse_options)
        if ctx.graphql_document is None:
            return
        try:
            allowed = ctx.operation_type in ctx.allowed_operations
        except RuntimeError:  # no operation of the name sent
            allowed = False
        if not allowed:
            return  # refused by strawberry before validation (a mutation over GET)
        options = tuple(sorted(ctx.parse_options.items()))
        rules = tuple(ctx.validation_rules)
        errors = _validate(ctx.schema._schema, query, options, rules)
        # a list, even empty: None would have strawberry validate the document again
        ctx.pre_execution_errors = errors or several_unnamed(ctx) or []


def several_unnamed(ctx) -> list[GraphQLError] | None:
    """GraphQL's GetOperation: without a name, a document of several operations is a
    request error (strawberry would run the first). Its error, or None."""
    document = ctx.graphql_document
    if (
        document is not None
        and getattr(ctx.context, "operation_name_sent", None) is False
        and sum(isinstance(d, OperationDefinitionNode) for d in document.definitions) > 1
    ):
        return [
            GraphQLError(
                "Must provide operation name if query contains multiple operations.",
                extensions={"code": "BAD_USER_INPUT"},
            )
        ]
    return None


class RequestLifecycle(SchemaExtension):
    """The unit of work (see the module's docstring) and, before execution, the cost limit:
    an operation that costs more than ``max_cost`` with the real sizes of the request's
    account is refused (``app.graphql.limits``). The sizes are read in the session whose
    kind this hook has just chosen. At the start of the operation, ``documents`` gives it
    its parsed and validated document (``DocumentCache``)."""

    def __init__(
        self,
        *,
        max_cost: int | None = None,
        max_depth: int | None = None,
        documents: DocumentCache | None = None,
        execution_context=None,
    ):
        self.max_cost = max_cost
        self.documents = documents
        # the summary's parts are summed as validation summed them (``_Summer.bound``)
        self.max_depth = max_depth

    async def on_execute(self):
        ec = self.execution_context
        ctx = ec.context
        operation_type = ec.operation_type
        if getattr(ctx, "over_socket", False) and operation_type != OperationType.SUBSCRIPTION:
            raise GraphQLError(
                "Only subscriptions run over the websocket; send queries and mutations over HTTP.",
                extensions={"code": "BAD_USER_INPUT"},
            )
        ctx.write = operation_type == OperationType.MUTATION
        if ec.result is None and len(ec.query or "") > MAX_CACHED_DOCUMENT:
            # a document the cache left to strawberry (``DocumentCache.prepare``)
            refusal = several_unnamed(ec)
            if refusal is not None:
                ec.result = ExecutionResult(data=None, errors=refusal)
        if self.max_cost is not None and ec.result is None and ec.graphql_document is not None:
            try:
                error = await _cost_error(ec, self.max_cost, self.max_depth)
            except GraphQLError:
                raise
            except Exception as exc:
                # Reading the account's sizes failed (the database lost, say): the request's
                # unexpected error, masked with its request id as any other (on_operation).
                error = GraphQLError("The cost check failed.", original_error=exc)
            if error is not None:
                if operation_type == OperationType.SUBSCRIPTION:
                    raise error  # a subscription's source is made whatever the result
                ec.result = ExecutionResult(data=None, errors=[error])
            elif operation_type == OperationType.SUBSCRIPTION:
                # priced again before each event is resolved (app.graphql.subscriptions):
                # a subscription cheap in an empty account may not run in a large one
                ctx.cost_check = functools.partial(
                    _cost_error, ec, self.max_cost, self.max_depth
                )
        yield

    async def on_operation(self):
        if self.documents is not None:
            self.documents.prepare(self.execution_context)
        yield
        ctx = self.execution_context.context
        with contextlib.suppress(Exception):  # a document that did not parse names nothing
            ctx.operation_name = self.execution_context.operation_name
        result = self.execution_context.result
        errors = list(getattr(result, "errors", None) or [])
        unexpected = [e for e in errors if _is_unexpected(e)]
        commit = ctx.write and not unexpected
        if commit and errors and getattr(result, "data", None) is None and ctx.has_session:
            # An operation the client sees as failed as a whole (a root field refused with a
            # top-level error nulls ``data``) keeps nothing of its other root fields: a
            # field done before it would otherwise be saved unseen, and a client that
            # retries would do it twice. A single refused field keeps what it must (its
            # rate-limit hits): nothing of its own work was kept.
            commit = not kept_a_change(ctx.session())
        try:
            await ctx.close(commit=commit)
        except Exception as exc:  # a failed commit is an unexpected error of the request
            unexpected.append(GraphQLError("commit failed", original_error=exc))
            errors.append(unexpected[-1])
            if result is not None and getattr(result, "data", None):
                result.data = None
        if not errors or result is None:
            return
        limited = any((e.extensions or {}).get("code") == "RATE_LIMITED" for e in errors)
        if limited and ctx.services.settings.rate_limited_delay_seconds > 0:
            # The hits are committed and the connection is back in the pool: waiting here
            # holds nothing but this client's request.
            await asyncio.sleep(ctx.services.settings.rate_limited_delay_seconds)
        result.errors = _shown_errors(ctx, errors, unexpected)

    async def on_stream_result(self, result):
        """Each result of a subscription is a unit of work of its own: its session ends once
        its fields are resolved (nothing is held between events), its errors shown as the
        answer of a request would show them."""
        ec = self.execution_context
        operation = _operation_type(ec)
        if operation is None:
            # No operation to run (a document that did not parse, no query, no operation
            # of the name sent): the client's error, an ``error`` message over a socket.
            ctx = ec.context
            errors = [_request_error(e) for e in getattr(result, "errors", None) or []]
            result.errors = _shown_errors(ctx, errors, [e for e in errors if _is_unexpected(e)])
        elif operation == OperationType.SUBSCRIPTION:
            ctx = ec.context
            with contextlib.suppress(Exception):
                await ctx.reset_unit_of_work()
            errors = list(getattr(result, "errors", None) or [])
            if errors:
                unexpected = [e for e in errors if _is_unexpected(e)]
                result.errors = _shown_errors(ctx, errors, unexpected)
        yield


# What strawberry raises, before execution, for a request that names no operation it can run.
_NO_OPERATION = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)


def _operation_type(ec) -> OperationType | None:
    """The type of the operation ``ec`` runs; None when its document did not parse or holds
    no operation of the name sent."""
    if ec.graphql_document is None:
        return None
    try:
        return ec.operation_type
    except CannotGetOperationTypeError:
        return None


def _request_error(error: GraphQLError) -> GraphQLError:
    """A refusal of the request strawberry raised as an exception of its own, as the
    client's error (not masked as unexpected)."""
    if isinstance(error.original_error, _NO_OPERATION):
        return GraphQLError(error.message, extensions={"code": "BAD_USER_INPUT"})
    return error


def _shown_errors(ctx, errors: list[GraphQLError], unexpected: list[GraphQLError]) -> list:
    """Errors as the client sees them: the unexpected masked with the request id (and
    logged in full), validation errors coded BAD_USER_INPUT."""
    processed = []
    for error in errors:
        if error in unexpected:
            log.error(
                "unexpected error request_id=%s path=%s",
                ctx.request_id,
                error.path,
                exc_info=error.original_error,
            )
            processed.append(
                GraphQLError(
                    "Unexpected error.",
                    nodes=error.nodes,
                    path=error.path,
                    extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": ctx.request_id},
                )
            )
        elif not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": "BAD_USER_INPUT"}
            if ctx.services.settings.is_production:
                error.message = without_suggestions(error.message)
            processed.append(error)
        else:
            processed.append(error)
    return processed


async def _cost_error(ec, max_cost: int, max_depth: int | None) -> GraphQLError | None:
    """The refusal of an operation over the cost limit, or None."""
    from app.graphql.limits import QueryLimits, check_cost, operation_summary, root_fields

    summary = operation_summary(
        ec.schema._schema,
        ec.query,
        ec.graphql_document,
        ec.operation_name,
        max_cost,
        QueryLimits.max_depth if max_depth is None else max_depth,
    )
    roots = None
    if ec.operation_type == OperationType.MUTATION and ec.graphql_document is not None:
        roots = root_fields(ec.graphql_document, ec.operation_name)
    return await check_cost(ec.context, summary, max_cost, ec.variables, mutation_roots=roots)


# Resolvers run synchronously one after the other until one waits (on the database, say):
# a large answer built from loaded rows would keep the event loop, and with it every other
# request, the request time limit and the shutdown signal, waiting until it is done. Past a
# slice of this many seconds, the remaining fields of a request are resolved in later turns.
SLICE_SECONDS = 0.005
_BATCH_MAX = 1024
_SYNC_SLICES = 4
# Turns a dispatch waits for fields graphql-core was handed but has not started: a field
# it abandons (a non-null sibling failed) never starts, and the loaders must not wait on it.
_IDLE_TURNS = 16
# A list longer than this is handed to graphql-core item by item (``_in_turns``), so that
# its completion, too, gives the loop back past a slice; shorter ones (a page) in one go.
_LONG_LIST = 100
# Items between two looks at the clock while a long list is completed.
_ITEMS_PER_LOOK = 16


class TakeTurns(SchemaExtension):
    """Makes a request give the event loop back every ``SLICE_SECONDS`` of resolving.

    Past its slice, a field's resolver is not called at once: it waits in the request's
    queue, and each turn of the event loop (a callback queued behind whatever else is
    ready) wakes the next waiting fields, as many as the last slice had time for. A slice
    begins when the first field woken by its turn runs, so other requests' work between
    the turn and its fields never uses it up (each turn moves the request on by at least
    one field). A request that resolves in less than one slice never waits.

    The request's DataLoaders dispatch their batches once no field waits and every field
    handed to graphql-core has started (``call_soon`` of ``TurnLoop``): a field woken in
    one turn completes into fields whose tasks start turns later, and their loads belong
    to the same batch. So fields resolved over several turns still load in one batch."""

    def __init__(self, *, execution_context=None):
        self.since = 0.0  # when the current slice began
        self.slice_begun = True  # False from a turn until the first field it woke runs
        self.begun = False  # whether a field has been resolved: the first slice began
        self.waiting: collections.deque = collections.deque()
        self.turn_queued = False
        self.batch = 1
        self.when_drained: list = []
        self.unstarted = 0  # fields handed to graphql-core as awaitables, not yet started
        self.idle_turns = 0  # turns a dispatch has waited for them without one starting
        self.stopped = False

    # No ``on_execute``: the slices begin with the first field resolved (a request a
    # compiled plan answers resolves none), so requests that never resolve a field do not
    # pay strawberry's wrapping of one more hook (about 5% of a small request's CPU).
    def _begin(self, ctx) -> None:
        self.begun = True
        self.since = time.perf_counter()
        ctx.turns = self  # the request's loaders and its time limit find it here

    def resolve(self, _next, root, info, *args, **kwargs):
        if not self.begun:
            self._begin(info.context)
        if time.perf_counter() - self.since < _SYNC_SLICES * SLICE_SECONDS:
            result = _next(root, info, *args, **kwargs)
            if inspect.isawaitable(result):
                # An async resolver runs when awaited, maybe much later: its slice is
                # checked then (loaded rows make many never wait on anything).
                self.unstarted += 1
                return self._when_its_turn(result, info)
            return self._handed(result, info)
        # Plain fields are completed with the list their parent returned, work bounded by
        # the query cost; past several slices, they wait too.
        self.unstarted += 1
        return self._later(_next, root, info, args, kwargs)

    def _started(self) -> None:
        if self.unstarted:  # 0 once a dispatch gave up on abandoned fields
            self.unstarted -= 1
        self.idle_turns = 0

    async def _turn_taken(self) -> None:
        """Waits for a turn with time left in its slice (fields woken together share one:
        those it has no time left for wait for the next)."""
        loop = asyncio.get_running_loop()
        while True:
            if self.stopped:  # a field graphql-core goes on with after the request ended
                raise asyncio.CancelledError()
            turn = loop.create_future()
            self.waiting.append(turn)
            if not self.turn_queued:
                self.turn_queued = True
                loop.call_soon(self._turn, loop)
            await turn
            if not self.slice_begun:
                self.slice_begun = True
                self.since = time.perf_counter()
                return
            if time.perf_counter() - self.since < SLICE_SECONDS:
                return

    async def _later(self, _next, root, info, args, kwargs):
        self._started()
        await self._turn_taken()
        result = _next(root, info, *args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return self._handed(result, info)

    def _handed(self, result, info):
        """``result`` as graphql-core gets it: a long list of objects item by item
        (``_in_turns``); anything else as it is (a list of scalars is cheap to complete)."""
        if (
            type(result) is list
            and len(result) > _LONG_LIST
            and is_composite_type(get_named_type(info.return_type))
        ):
            return self._in_turns(result)
        return result

    async def _in_turns(self, items: list):
        """A long list's items, one at a time: graphql-core completes each as it comes
        (its fields resolved, their loads queued), and the list waits for a turn when its
        slice is used up. In one go, completing 1,200 items held the loop for 0.1 s."""
        for at, item in enumerate(items):
            if at % _ITEMS_PER_LOOK == 0 and time.perf_counter() - self.since >= SLICE_SECONDS:
                await self._turn_taken()
            yield item

    async def _when_its_turn(self, awaitable, info):
        self._started()
        if time.perf_counter() - self.since >= SLICE_SECONDS:
            try:
                await self._turn_taken()
            except BaseException:  # cancelled (past the time limit): the resolver never runs
                if inspect.iscoroutine(awaitable):
                    awaitable.close()
                raise
        return self._handed(await awaitable, info)

    def stop(self) -> None:
        """The request is over (past its time limit): nothing of it runs any more, and no
        loader batch is dispatched."""
        self.stopped = True
        self.when_drained.clear()
        while self.waiting:
            self.waiting.popleft().cancel()

    def call_soon_when_drained(self, loop, callback, *args):
        """Calls back at the first turn at which no field waits or is still to start
        (fields queued later in this slice still come first); never once the request has
        stopped."""
        if self.stopped:
            return
        self.when_drained.append((callback, args))
        if not self.turn_queued:
            self.turn_queued = True
            loop.call_soon(self._turn, loop)

    def _turn(self, loop) -> None:
        self.turn_queued = False
        if not self.waiting:
            if self.unstarted and self.when_drained:
                if self.idle_turns < _IDLE_TURNS:
                    self.idle_turns += 1
                    self.turn_queued = True
                    loop.call_soon(self._turn, loop)
                    return
                self.unstarted = 0  # abandoned: graphql-core will never start them
            self.idle_turns = 0
            drained, self.when_drained = self.when_drained, []
            for callback, args in drained:
                loop.call_soon(callback, *args)
            return
        if self.slice_begun:
            used = time.perf_counter() - self.since
            if used < SLICE_SECONDS / 2:
                self.batch = min(_BATCH_MAX, self.batch * 2)
            elif used > SLICE_SECONDS:
                self.batch = max(1, self.batch // 2)
        self.slice_begun = False
        woken = 0
        while self.waiting and woken < self.batch:
            turn = self.waiting.popleft()
            if not turn.done():  # not cancelled (the request past its time limit)
                turn.set_result(None)
                woken += 1
        # Queued again even when no field waits any more: the woken ones may queue more.
        self.turn_queued = True
        loop.call_soon(self._turn, loop)


class TurnLoop:
    """The event loop as a request's DataLoaders see it: batches are dispatched once the
    request's waiting fields (``TakeTurns``) have all been resolved."""

    def __init__(self, ctx):
        self._ctx = ctx

    def __getattr__(self, name):
        return getattr(asyncio.get_running_loop(), name)

    def call_soon(self, callback, *args, context=None):
        loop = asyncio.get_running_loop()
        turns = getattr(self._ctx, "turns", None)
        if turns is None or context is not None:
            return loop.call_soon(callback, *args, context=context)
        turns.call_soon_when_drained(loop, callback, *args)
        return None
