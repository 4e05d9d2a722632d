"""OpenTelemetry traces: off unless the standard ``OTEL_*`` variables ask for them.

Traces are on when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``; ``none``
is off) or, without it, when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set; ``OTEL_SDK_DISABLED=true`` turns them off
whatever else is set. The exporters, the sampler (``OTEL_TRACES_SAMPLER``), the batch
processor (``OTEL_BSP_*``) and the resource (``OTEL_SERVICE_NAME``, default ``roster``;
``OTEL_RESOURCE_ATTRIBUTES``) read their own variables. OTLP needs the ``otel`` extra
(``opentelemetry-exporter-otlp``); ``OTEL_EXPORTER_OTLP_PROTOCOL`` chooses ``grpc`` or
``http/protobuf`` (the default).

Every HTTP request is one server span (``app.ops.observe``), named by its GraphQL
operation; each SQL statement it runs is a child span. No attribute carries personal data:
a statement's text has its bound parameters as placeholders and its values are never
read; no variables, headers, client address or error message is recorded (an error is
its type's name).
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator, Mapping

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, TracerProvider
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import prepared

TRACER_NAME = "roster"
MAX_STATEMENT = 4096


class TracingUnavailable(RuntimeError):
    """The OTEL_* variables ask for an exporter that is not installed or not known."""


def _exporter(name: str, environ: Mapping[str, str]):
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise TracingUnavailable(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r}")
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    transport = "grpc" if protocol == "grpc" else "http"
    try:
        module = importlib.import_module(
            f"opentelemetry.exporter.otlp.proto.{transport}.trace_exporter"
        )
    except ImportError:
        raise TracingUnavailable(
            "OTEL_* variables ask for OTLP traces: install roster[otel] "
            "(opentelemetry-exporter-otlp)"
        ) from None
    return module.OTLPSpanExporter()


def provider_from_environment(environ: Mapping[str, str] | None = None) -> TracerProvider | None:
    """A tracer provider exporting as the ``OTEL_*`` variables say, or None (traces off)."""
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names_set = environ.get("OTEL_TRACES_EXPORTER")
    if names_set is None:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        names = ["otlp"] if endpoint else []
    else:
        names = [n.strip().lower() for n in names_set.split(",")]
        names = [n for n in names if n and n != "none"]
    if not names:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporters = [_exporter(name, environ) for name in names]
    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or "roster"})
    provider = SdkTracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def shutdown(provider: TracerProvider) -> None:
    """Exports what is left (the SDK's provider; the API's has nothing to do)."""
    close = getattr(provider, "shutdown", None)
    if close is not None:
        close()


def _operation(statement: str) -> str:
    word = statement.lstrip().split(None, 1)
    return word[0].upper() if word else "SQL"


class SqlSpans:
    """A child span for each statement a traced request runs on ``engine``: through
    SQLAlchemy (its cursor events) and prepared reads (``app.db.prepared.traced``).
    Statements run outside a traced request (the email relay's polling) make none."""

    def __init__(self, engine: AsyncEngine, tracer: Tracer):
        self.tracer = tracer
        self.system = engine.dialect.name
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)
        event.listen(sync, "handle_error", self._error)
        prepared.traced[sync.pool] = self.statement

    def _start(self, statement: str):
        if not trace.get_current_span().get_span_context().is_valid:
            return None
        operation = _operation(statement)
        return self.tracer.start_span(
            operation,
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": self.system,
                "db.operation.name": operation,
                # The SQL as sent: bound values are placeholders (?, $1, %(name)s).
                "db.query.text": statement[:MAX_STATEMENT],
            },
        )

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        span = self._start(statement)
        if span is not None and context is not None:
            context._roster_span = span

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        span = getattr(context, "_roster_span", None)
        if span is not None:
            context._roster_span = None
            span.end()

    def _error(self, exception_context):
        context = exception_context.execution_context
        span = getattr(context, "_roster_span", None)
        if span is not None:
            context._roster_span = None
            # SQLAlchemy's class of the error (IntegrityError...), the same on every driver
            _failed(
                span,
                exception_context.sqlalchemy_exception or exception_context.original_exception,
            )
            span.end()

    @contextlib.contextmanager
    def statement(self, sql: str) -> Iterator[None]:
        span = self._start(sql)
        if span is None:
            yield
            return
        try:
            yield
        except BaseException as exc:
            _failed(span, exc)
            raise
        finally:
            span.end()


def _failed(span, exc: BaseException) -> None:
    # The type only: messages can quote values (a unique key's, say).
    span.set_status(Status(StatusCode.ERROR))
    span.set_attribute("error.type", type(exc).__qualname__)
