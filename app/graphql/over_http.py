"""GraphQL over HTTP as the GraphQL Foundation's specification (draft) describes it.

- The response's media type follows the request's ``Accept``: ``application/graphql-response+json``
  when the client prefers it, ``application/json`` when it asks for that, for ``*/*`` or
  ``application/*``, or sends no ``Accept``; any other ``Accept`` is answered 406.
- Every request-level failure is a JSON ``{"errors": [...]}`` with ``extensions.code`` and
  no ``data`` key: the body that cannot be read (400), the unsupported content type (415),
  batches (400), and a document refused before execution (parse or validation errors, the
  query limits, introspection in production).
- Status codes: with ``application/graphql-response+json`` a request refused before
  execution gets its 4xx (400; 401, 403 or 429 by its code); with ``application/json`` it gets
  200, as the specification's legacy rules say. A result that has ``data`` is 200 under both.
- Every answer is ``Cache-Control: no-store`` (it may hold personal data).
- A mutation sent with GET is refused with 405 and ``Allow: POST`` (in production, where
  GET runs nothing, every GET operation is).
"""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from starlette.responses import JSONResponse, Response
from strawberry import UNSET
from strawberry.types import ExecutionResult

from app.graphql.request_body import CODE, BadRequestBody, SafeRequestBody
from app.graphql.strawberry_internals import InvalidOperationTypeError

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"

# A request refused before execution, answered with graphql-response+json: its status.
_STATUS_BY_CODE = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "RATE_LIMITED": 429}


def negotiate(accept: str | None) -> str | None:
    """The media type of the response for this ``Accept`` header, or None (406)."""
    if not accept or not accept.strip():
        return JSON
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        media = media.lower()
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        if media == GRAPHQL_RESPONSE:
            candidate = (quality, 2, GRAPHQL_RESPONSE)
        elif media == JSON:
            candidate = (quality, 1, JSON)
        elif media in ("*/*", "application/*"):
            candidate = (quality, 0, JSON)
        else:
            continue
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return None if best is None else best[2]


def _content_type(media: str) -> str:
    return f"{media}; charset=utf-8"


def request_error_response(
    message: str,
    status: int,
    media: str | None = None,
    headers: dict | None = None,
    code: str = CODE,
) -> JSONResponse:
    """A request-level failure: errors only, no ``data`` (execution never started)."""
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    response = JSONResponse(body, status_code=status, headers=headers)
    response.headers["content-type"] = _content_type(media or JSON)
    response.headers["cache-control"] = "no-store"
    return response


def never_executed(result: ExecutionResult) -> bool:
    """Whether the result is a refusal before execution: no data and no error of a field
    (the request's time limit and a failed commit are failures of execution)."""
    if result.data is not None or not result.errors:
        return False
    return all(
        e.path is None and (e.extensions or {}).get("code") != "INTERNAL_SERVER_ERROR"
        for e in result.errors
    )


def _status_of_refusal(errors: list[GraphQLError]) -> int:
    codes = {(e.extensions or {}).get("code") for e in errors}
    for code, status in _STATUS_BY_CODE.items():
        if code in codes:
            return status
    return 400


class GraphQLOverHTTP(SafeRequestBody):
    """The GraphQL view speaking GraphQL over HTTP (see the module's docstring)."""

    async def run(self, request, context=UNSET, root_value=UNSET):
        if self.is_websocket_request(request):
            return await super().run(request, context, root_value)
        adapter = self.request_adapter_class(request)
        media = negotiate(request.headers.get("accept"))
        if media is None and not (self.graphql_ide and self.should_render_graphql_ide(adapter)):
            return request_error_response(
                f"The response can only be {GRAPHQL_RESPONSE} or {JSON}; the Accept header "
                "allows neither.",
                406,
            )
        media = media or JSON
        request.state.graphql_media = media
        request.state.graphql_status = 200
        try:
            response = await super().run(request, context, root_value)
        except BadRequestBody as exc:
            # A body that cannot be read is not a well-formed request: 400 under both types.
            # Refused strings of a well-formed request are refused before execution.
            status = exc.status if exc.status != 200 or media == JSON else 400
            return request_error_response(exc.message, status, media)
        except HTTPException as exc:
            if isinstance(exc.__cause__, InvalidOperationTypeError) and adapter.method == "GET":
                return request_error_response(
                    exc.reason, 405, media, headers={"Allow": "POST"}
                )
            status = exc.status_code
            if exc.reason == "Unsupported content type":
                status = 415
            return request_error_response(exc.reason, status, media)
        if isinstance(response, Response) and response.media_type == JSON:
            response.status_code = request.state.graphql_status
            response.headers["content-type"] = _content_type(media)
            # an answer may hold personal data: no shared or browser cache keeps it
            response.headers["cache-control"] = "no-store"
        return response

    async def process_result(self, request, result: ExecutionResult) -> Any:
        processed = await super().process_result(request, result)
        if never_executed(result):
            processed.pop("data", None)
            if getattr(request.state, "graphql_media", JSON) == GRAPHQL_RESPONSE:
                request.state.graphql_status = _status_of_refusal(result.errors or [])
        return processed
