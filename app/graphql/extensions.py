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
import contextlib
import functools
import logging
import re

from graphql import DocumentNode, GraphQLError, parse
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

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


@functools.lru_cache(maxsize=CACHED_DOCUMENTS)
def _validate(schema, query: str, options: tuple, rules: tuple) -> list[GraphQLError]:
    """Keyed by the document's text, whose hash Python keeps, not by its syntax tree,
    which would be hashed node by node on every request."""
    from strawberry.schema.schema import validate_document

    return validate_document(schema, _parse(query, **dict(options)), rules)


class DocumentCache(SchemaExtension):
    """Parses and validates each distinct document once (bounded LRUs; the token limit and
    the rules are part of the keys). Documents over ``MAX_CACHED_DOCUMENT`` characters, and
    documents that do not parse, are left to strawberry as they are."""

    def on_parse(self):
        ctx = self.execution_context
        if len(ctx.query or "") <= MAX_CACHED_DOCUMENT:
            with contextlib.suppress(GraphQLError):
                ctx.graphql_document = _parse(ctx.query, **ctx.parse_options)
        yield

    def on_validate(self):
        ctx = self.execution_context
        if len(ctx.query or "") <= MAX_CACHED_DOCUMENT and ctx.graphql_document is not None:
            options = tuple(sorted(ctx.parse_options.items()))
            rules = tuple(ctx.validation_rules)
            ctx.pre_execution_errors = _validate(ctx.schema._schema, ctx.query, options, rules)
        yield


class RequestLifecycle(SchemaExtension):
    def on_execute(self):
        ctx = self.execution_context.context
        ctx.write = self.execution_context.operation_type == OperationType.MUTATION
        yield

    async def on_operation(self):
        yield
        ctx = self.execution_context.context
        result = self.execution_context.result
        errors = list(getattr(result, "errors", None) or [])
        unexpected = [e for e in errors if _is_unexpected(e)]
        try:
            await ctx.close(commit=ctx.write and not unexpected)
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
        result.errors = processed
