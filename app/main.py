"""The ASGI application: routes, lifespan, middleware."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import uuid
from datetime import timedelta

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from opentelemetry.trace import TracerProvider
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from strawberry import UNSET
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from app.after_response import AfterResponseMiddleware
from app.after_response import settle as settle_after_response
from app.background import run_background
from app.db.migrate import current_revision, head_revision
from app.events.listen import Listener
from app.events.live import Live
from app.foreground import ForegroundMiddleware
from app.graphql.context import Context
from app.graphql.limits import QueryLimits
from app.graphql.over_http import GraphQLOverHTTP
from app.graphql.schema import RosterSchema, build_schema
from app.graphql.socket import RosterTransportWS, TextFrames, credentials_of
from app.ops import tracing
from app.ops.metrics import Metrics, metrics_route, outcome_of
from app.ops.observe import ObserveRequests
from app.rest.routes import PREFIX as REST_PREFIX
from app.rest.routes import routes as rest_routes
from app.scim.routes import ERROR as SCIM_ERROR
from app.scim.routes import MEDIA as SCIM_MEDIA
from app.scim.routes import PREFIX as SCIM_PREFIX
from app.scim.routes import routes as scim_routes
from app.security.client_address import ClientAddressMiddleware
from app.security.socket_limit import SocketsPerClient
from app.services import Services
from app.settings import Settings
from app.validation import integer_of
from app.web.auth_headers import credentials
from app.web.exports import routes as export_routes
from app.web.home import routes as home_routes
from app.web.ide import GraphiQLAssets
from app.web.pages import routes as page_routes

log = logging.getLogger("roster")


class RequestIdMiddleware:
    """Gives every request a fresh id (errors and logs cite it) and returns it as a header."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


# What a multipart request to /graphql may carry besides its file: the operations and map
# parts and the multipart framing.
MULTIPART_SLACK = 1024 * 1024


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` (declared or streamed) with 413; a
    multipart request to /graphql (a file upload) may be ``upload_bytes`` larger."""

    def __init__(self, app, max_bytes: int, upload_bytes: int = 0):
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes

    @staticmethod
    def _is_upload(scope, headers: Headers) -> bool:
        """A file upload to /graphql: one multipart Content-Type, and credentials (an
        anonymous request gets no larger allowance than any other)."""
        types = headers.getlist("content-type")
        return (
            scope.get("path") == "/graphql"
            and len(types) == 1
            and types[0].lower().startswith("multipart/form-data")
            and bool(headers.get("authorization") or headers.get("x-auth-token"))
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)  # the first of repeated headers, as the app reads them
        limit = self.max_bytes
        if self._is_upload(scope, headers):
            limit += self.upload_bytes + MULTIPART_SLACK
        declared = headers.get("content-length")
        # ASCII digits alone (``integer_of``: "²", byte B2 as Latin-1, passes isdigit())
        size = integer_of(declared) if declared is not None else 0
        if size is None or not 0 <= size <= limit:
            return await self._refuse(scope, send)
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            await self._refuse(scope, send)

    @staticmethod
    async def _refuse(scope, send):
        await send_error(send, scope.get("path", ""), 413, "The request body is too large.")


class BodyTooLarge(Exception):
    pass


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(f"{prefix}/")


def surface_error(path: str, status: int, message: str) -> tuple[bytes, dict]:
    """The media type and body of an error answered outside the surfaces' own handlers
    (a body too large, an unexpected exception), in the error shape of the surface the
    path names: SCIM's Error, BigTime's {"Message"}, else GraphQL's errors."""
    if _under(path, SCIM_PREFIX):
        return SCIM_MEDIA.encode(), {
            "schemas": [SCIM_ERROR],
            "status": str(status),
            "detail": message,
        }
    if _under(path, REST_PREFIX):
        return b"application/json", {"Message": message}
    return b"application/json", {
        "errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]
    }


async def send_error(send, path: str, status: int, message: str) -> None:
    media_type, content = surface_error(path, status, message)
    body = orjson.dumps(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class UnexpectedErrorMiddleware:
    """An exception nothing else answered, under SCIM or the REST API, answers 500 in
    that surface's error shape (SCIM's Error, BigTime's {"Message"}) citing the request
    id (also in the X-Request-Id header), masked as GraphQL masks its own (no traceback
    or message of the error), and is logged in full. Placed inside ``RequestIdMiddleware``
    (the id and its header) and ``ObserveRequests`` (which counts the 500), outside
    ``BodyLimitMiddleware`` (which answers its own refusal, raised through the app).
    GraphQL masks its errors itself (app.graphql.extensions)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or not (
            _under(path, SCIM_PREFIX) or _under(path, REST_PREFIX)
        ):
            return await self.app(scope, receive, send)
        started = False

        async def watching_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        except Exception:
            request_id = scope.get("state", {}).get("request_id")
            log.exception("unexpected error request_id=%s path=%s", request_id, path)
            if started:  # too late for an answer of our own: the connection is cut
                raise
            await send_error(send, path, 500, f"Unexpected error (request id {request_id}).")


# Headers no browser sends cross-site without a CORS preflight (none is CORS-safelisted).
PREFLIGHT_HEADERS = ("authorization", "x-auth-token", "graphql-preflight")


class RosterGraphQL(GraphQLOverHTTP, GraphQL):
    schema: RosterSchema
    graphql_transport_ws_handler_class = RosterTransportWS  # app.graphql.socket
    websocket_adapter_class = TextFrames

    def __init__(self, services: Services, ide: GraphiQLAssets | None = None, **kwargs):
        s = services.settings
        schema = build_schema(
            production=s.is_production,
            limits=QueryLimits(
                max_depth=s.max_query_depth,
                max_aliases=s.max_query_aliases,
                max_cost=s.max_query_cost,
            ),
            max_tokens=s.max_query_tokens,
            plan_budget=s.hot_paths_cache_bytes,
        )
        super().__init__(
            schema,
            graphql_ide="graphiql" if ide else None,
            multipart_uploads_enabled=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=s.subscription_init_timeout_seconds),
            max_subscriptions_per_connection=None,  # capped with a code (app.graphql.subscriptions)
            allowed_origins=s.cors_origins,
            **kwargs,
        )
        # A websocket message is a request body as an HTTP one is (``TextFrames``).
        self.max_message_bytes = s.max_body_bytes
        self.services = services
        self.ide = ide
        self.live = Live(
            services.db,
            per_account=s.subscriptions_per_account,
            per_member=s.subscriptions_per_member,
            backlog=s.subscription_backlog,
        )

    async def on_ws_connect(self, context: Context):
        """A websocket is acknowledged only for a member (closed with 4403 otherwise)."""
        context.token, context.realm = credentials_of(context.connection_params or {})
        try:
            actor = await context.optional_actor()
        finally:
            await context.close(commit=False)
        if actor is None:
            raise ConnectionRejectionError()
        return UNSET  # connection_ack without a payload

    async def parse_multipart(self, request):
        """File uploads (the GraphQL multipart request specification). A multipart form is
        a request a browser sends cross-site without asking (no CORS preflight), so one is
        read only when it carries a header that makes a browser ask first: Authorization,
        X-Auth-Token or GraphQL-Preflight (CORS_ORIGINS then decides, as for every POST)."""
        if not any(request.headers.get(h) for h in PREFLIGHT_HEADERS):
            raise HTTPException(
                400,
                "A multipart request needs an Authorization, X-Auth-Token or GraphQL-Preflight "
                "header.",
            )
        return await super().parse_multipart(request)

    async def render_graphql_ide(self, request) -> Response:
        """Roster's own GraphiQL page (app.web.ide), never strawberry's CDN one."""
        assert self.ide is not None  # strawberry renders an IDE only when one is set
        return self.ide.page(request)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def execute_operation(
        self, request, request_adapter, request_data, context, root_value, sub_response
    ):
        """Every operation gets a time limit; past it the work is cancelled and rolled back.
        Its name and outcome are left in the request's state (``app.ops.observe``)."""
        context.operation_name_sent = bool(getattr(request_data, "operation_name", None))
        result = await self._execute_in_time(
            request, request_adapter, request_data, context, root_value, sub_response
        )
        if isinstance(result, ExecutionResult):
            # a request past its time limit may not have named its operation yet
            request.state.graphql_operation = context.operation_name or getattr(
                request_data, "operation_name", None
            )
            request.state.graphql_outcome = outcome_of(result)
        return result

    async def _execute_in_time(
        self, request, request_adapter, request_data, context, root_value, sub_response
    ):
        try:
            async with asyncio.timeout(self.services.settings.request_timeout_seconds):
                return await super().execute_operation(
                    request, request_adapter, request_data, context, root_value, sub_response
                )
        except TimeoutError:
            context.end()  # a straggler (a DataLoader's batch) opens no session after this
            turns = getattr(context, "turns", None)  # TakeTurns: nothing more of it runs
            if turns is not None:
                turns.stop()
            try:
                await context.close(commit=False)
            except Exception:  # e.g. a loader's statement still running: never committed
                log.exception(
                    "closing a timed-out request failed request_id=%s", context.request_id
                )
            log.error("request timed out request_id=%s", context.request_id)
            return ExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        "The request took too long.",
                        extensions={
                            "code": "INTERNAL_SERVER_ERROR",
                            "requestId": context.request_id,
                        },
                    )
                ],
            )

    async def get_context(self, request, response) -> Context:
        if request.scope["type"] == "websocket":  # credentials come in connection_init
            return Context(
                request=request,
                services=self.services,
                request_id=uuid.uuid4().hex,
                connection_params={},
                live=self.live,
            )
        token, realm = credentials(request)
        return Context(
            request=request,
            services=self.services,
            request_id=request.state.request_id,
            token=token,
            realm=realm,
        )


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """``tracer_provider``: where spans go; by default as the ``OTEL_*`` variables say
    (none: traces off; see app.ops.tracing)."""
    settings = settings or Settings()
    settings.check_production_ready()
    services = services or Services.from_settings(settings)
    if tracer_provider is None:
        tracer_provider = tracing.provider_from_environment()
    tracer = None
    if tracer_provider is not None:
        tracer = tracer_provider.get_tracer(tracing.TRACER_NAME)
        tracing.SqlSpans(services.db.engine, tracer)
    metrics = Metrics(services)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        try:
            async with services.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                revision = await conn.run_sync(current_revision)
        except Exception:
            log.exception("readiness check failed")
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        if revision != head_revision():
            return JSONResponse({"status": "unavailable", "migrations": "behind"}, 503)
        return JSONResponse({"status": "ok", "database": "ok", "migrations": revision})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        stop = asyncio.Event()
        workers = []
        if settings.email_relay_enabled:
            workers.append(
                asyncio.create_task(
                    run_background(services, stop, settings.email_relay_poll_seconds)
                )
            )
        if settings.webhooks_enabled:
            workers.append(
                asyncio.create_task(
                    services.webhooks.run_forever(stop, settings.webhooks_poll_seconds)
                )
            )
        if services.db.engine.dialect.name == "postgresql":
            # committed events of every worker reach this one's subscribers
            listener = Listener(settings.database_url)
            app.state.events_listener = listener
            workers.append(asyncio.create_task(listener.run(stop)))
        # What is alive once the app has started (the schema, mappers, compiled statements)
        # lives as long as the server. Frozen, it is out of the cyclic collector's sight, so
        # a full collection walks only what requests made: under load, the staff page's p99
        # went from 62 to 16-19 ms with p50 unchanged (wrk, 4 connections, PostgreSQL).
        if settings.freeze_startup_objects:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if settings.freeze_startup_objects:
                gc.unfreeze()
            stop.set()
            await graphql.live.close()
            await settle_after_response()
            for worker in workers:
                with contextlib.suppress(Exception):
                    await worker
            await services.close()
            if tracer_provider is not None:
                tracing.shutdown(tracer_provider)

    # GraphiQL (development only): its files are served by Roster itself.
    ide = None if settings.is_production else GraphiQLAssets()
    graphql = RosterGraphQL(services, ide=ide, allow_queries_via_get=not settings.is_production)
    middleware = [
        Middleware(ClientAddressMiddleware, trusted_proxies=settings.trusted_proxies),
        Middleware(SocketsPerClient, limit=settings.websockets_per_client),
        Middleware(RequestIdMiddleware),
        Middleware(AfterResponseMiddleware),
        Middleware(ObserveRequests, metrics=metrics, tracer=tracer, log=settings.access_log),
        Middleware(UnexpectedErrorMiddleware),
        Middleware(ForegroundMiddleware, foreground=services.offload.foreground),
        Middleware(
            BodyLimitMiddleware,
            max_bytes=settings.max_body_bytes,
            upload_bytes=settings.max_import_bytes,
        ),
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=[
                    "authorization",
                    "content-type",
                    "x-auth-token",
                    "x-auth-realm",
                    "graphql-preflight",
                ],
            )
        )
    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            metrics_route(services, metrics),
            *home_routes(settings),
            *page_routes(services),
            *export_routes(services),
            *rest_routes(services),
            *scim_routes(services),
            *(ide.routes() if ide else []),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.graphql = graphql
    app.state.metrics = metrics
    return app


def create_app_from_env() -> Starlette:
    """The app as the environment configures it (``ROSTER_*``), logging set up: the
    factory each worker process of ``roster serve --workers N`` imports by name."""
    from app.log import configure

    settings = Settings()
    configure(settings)
    return create_app(settings)
