"""Each HTTP request, once answered: counted in the metrics, written to the access log,
and (traces on) one server span around everything it did.

The GraphQL view records the operation's name and outcome in the request's state
(``graphql_operation``, ``graphql_outcome``) whichever path answered it, graphql-core or a
compiled plan; a GraphQL request refused before it reached an operation (an unreadable
body, a refused ``Accept``, a body too large) is counted as ``not_executed``.

The access log (logger ``roster.access``, INFO, one JSON object per line in production)
holds the request id, method, route, status, duration and, for GraphQL, the operation and
its outcome. The route is the path as routed (``/join/{token}``, never the token), without
its query string; nothing of the body, variables, headers, cookies or client address.
"""

from __future__ import annotations

import logging
import time

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from app.ops.metrics import Metrics, operation_label

access_log = logging.getLogger("roster.access")

GRAPHQL_ROUTE = "/graphql"
UNMATCHED = "unmatched"


def _route(scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def _carrier(scope) -> dict[str, str]:
    """The trace context a caller sent (W3C ``traceparent``/``tracestate``), nothing else."""
    return {
        k.decode("latin-1"): v.decode("latin-1")
        for k, v in scope.get("headers") or ()
        if k in (b"traceparent", b"tracestate")
    }


class ObserveRequests:
    def __init__(self, app, metrics: Metrics, tracer: Tracer | None = None, log: bool = True):
        self.app = app
        self.metrics = metrics
        self.tracer = tracer
        self.log = log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # unless a response starts

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        span = token = None
        if self.tracer is not None:
            span = self.tracer.start_span(
                f"{scope['method']} request",
                context=propagate.extract(_carrier(scope)),
                kind=SpanKind.SERVER,
                attributes={"http.request.method": scope["method"]},
            )
            token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, send_status)
        except BaseException as exc:
            if span is not None:
                span.set_attribute("error.type", type(exc).__qualname__)
            raise
        finally:
            seconds = time.perf_counter() - started
            if token is not None:
                otel_context.detach(token)
            self._answered(scope, status, seconds, span)

    def _answered(self, scope, status: int, seconds: float, span) -> None:
        state = scope.get("state") or {}
        route = _route(scope)
        operation = outcome = None
        if route == GRAPHQL_ROUTE:
            operation = operation_label(state.get("graphql_operation"))
            outcome = state.get("graphql_outcome")
        method = scope["method"]
        self.metrics.observe(
            method=method,
            route=route,
            status=status,
            seconds=seconds,
            operation=operation,
            outcome=outcome,
        )
        if span is not None:
            span.update_name(operation if operation is not None else f"{method} {route}")
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            if request_id := state.get("request_id"):
                span.set_attribute("roster.request_id", request_id)
            if operation is not None:
                span.set_attribute("graphql.operation.name", operation)
                span.set_attribute("roster.outcome", outcome or "not_executed")
            if status >= 500 or outcome == "internal_server_error":
                span.set_status(Status(StatusCode.ERROR))
            span.end()
        if self.log and access_log.isEnabledFor(logging.INFO):
            fields: dict = {
                "request_id": state.get("request_id"),
                "method": method,
                "path": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
            }
            if operation is not None:
                fields["operation"] = operation
                fields["outcome"] = outcome or "not_executed"
            access_log.info(
                " ".join(f"{k}={v}" for k, v in fields.items()), extra={"fields": fields}
            )
