"""Prometheus metrics, one registry per app, served at ``GET /metrics``.

Requests are counted by the ``ObserveRequests`` middleware (``app.ops.observe``) once they
are answered, the GraphQL ones by operation name and outcome whichever path answered them
(graphql-core or a compiled plan of ``app.graphql.hot``). The pool, the outbox and the
rate limits' refusals are read when the metrics are scraped.

Who may read them (``ROSTER_METRICS_TOKEN``, ``ROSTER_METRICS_ALLOW_FROM``): in production
nobody unless one of the two is set (the route answers 404); with a token, a request must
carry it as ``Authorization: Bearer <token>`` (401 otherwise); with networks, it must come
from one of them (404 otherwise). In development the route is open unless they are set.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.pool import QueuePool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from strawberry.types import ExecutionResult

from app.email.queries import outbox_backlog
from app.security.client_address import Network, in_networks, parse_networks
from app.security.rate_limits import RateLimiter
from app.services import Services

log = logging.getLogger("roster.metrics")

# Seconds; the last bucket is the default request time limit.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
MAX_OPERATIONS = 200
"""Distinct operation names kept as label values; clients name their operations, so past
this many the others are counted together as ``other``."""

MAX_CACHED_CHILDREN = 4096
"""Label combinations whose instruments are looked up once (see ``Metrics.observe``)."""

ANONYMOUS = "anonymous"
NOT_EXECUTED = "not_executed"
_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})

# An operation's outcome is the code of its most telling error ("ok" without errors).
_OUTCOMES = (
    "INTERNAL_SERVER_ERROR",
    "RATE_LIMITED",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "BAD_USER_INPUT",
)


def operation_label(name: str | None) -> str:
    """The operation's name as logs, spans and metrics show it: a GraphQL name, or
    ``anonymous``, or ``invalid`` for a name that is not one."""
    if name is None:
        return ANONYMOUS
    return name if _OPERATION_NAME.fullmatch(name) else "invalid"


def outcome_of(result: ExecutionResult) -> str:
    """``ok``, or the lower-cased code of the result's most telling error (``error`` when
    none has a known code)."""
    if not result.errors:
        return "ok"
    codes = {(e.extensions or {}).get("code") for e in result.errors}
    for code in _OUTCOMES:
        if code in codes:
            return code.lower()
    return "error"


class _PoolCollector(Collector):
    """The engine's connection pool, where the pool keeps counts (a queue pool: PostgreSQL,
    and SQLite on a file); other pools report their class only."""

    def __init__(self, services: Services):
        self.services = services

    def collect(self) -> Iterator[Metric]:
        pool = self.services.db.engine.pool
        info = GaugeMetricFamily(
            "roster_db_pool_info", "The database connection pool's class.", labels=["pool"]
        )
        info.add_metric([type(pool).__name__], 1)
        yield info
        if not isinstance(pool, QueuePool):
            return
        yield GaugeMetricFamily(
            "roster_db_pool_size", "Connections the pool keeps open.", value=pool.size()
        )
        yield GaugeMetricFamily(
            "roster_db_pool_checked_out",
            "Connections in use by requests and workers.",
            value=pool.checkedout(),
        )
        yield GaugeMetricFamily(
            "roster_db_pool_idle", "Open connections waiting in the pool.", value=pool.checkedin()
        )
        yield GaugeMetricFamily(
            "roster_db_pool_overflow",
            "Connections open beyond the pool's size.",
            value=max(0, pool.overflow()),
        )


class _ProcessInfoCollector(Collector):
    """Which server process answered (``roster serve --workers N`` runs N of them): each
    scrape reaches one, and the series of every process are told apart by ``pid``."""

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "roster_process_info", "The server process that answered this scrape.", labels=["pid"]
        )
        info.add_metric([str(os.getpid())], 1)
        yield info


class _RefusalCollector(Collector):
    def __init__(self, limiter: RateLimiter):
        self.limiter = limiter

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "roster_rate_limit_refusals",
            "Attempts refused by a rate limit, by the limit's name.",
            labels=["limit"],
        )
        for name in self.limiter.limits:
            family.add_metric([name], self.limiter.refusals.get(name, 0))
        yield family


class Metrics:
    """The app's registry and instruments (not the process-wide default registry: each app
    counts its own requests)."""

    def __init__(self, services: Services):
        self.services = services
        self.registry = registry = CollectorRegistry()
        self.http_requests = Counter(
            "roster_http_requests",
            "HTTP requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "roster_http_request_duration_seconds",
            "Time to answer an HTTP request, by route.",
            ["route"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.operations = Counter(
            "roster_graphql_operations",
            "GraphQL requests answered, by operation name and outcome.",
            ["operation", "outcome"],
            registry=registry,
        )
        self.operation_duration = Histogram(
            "roster_graphql_operation_duration_seconds",
            "Time to answer a GraphQL request, by operation name.",
            ["operation"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.outbox_pending = Gauge(
            "roster_email_outbox_pending",
            "Emails waiting in the outbox to be sent (read when scraped).",
            registry=registry,
        )
        self.outbox_oldest = Gauge(
            "roster_email_outbox_oldest_pending_age_seconds",
            "How long the oldest email waiting in the outbox has waited (0 when none waits).",
            registry=registry,
        )
        registry.register(_PoolCollector(services))
        registry.register(_RefusalCollector(services.limiter))
        registry.register(_ProcessInfoCollector())
        ProcessCollector(registry=registry)
        self._names: set[str] = set()
        # The children of the instruments by their label values, looked up once: each
        # ``labels()`` call validates and locks, and every request made four of them.
        self._children: dict[tuple, tuple] = {}

    def _operation(self, label: str) -> str:
        if label in self._names:
            return label
        if len(self._names) >= MAX_OPERATIONS:
            return "other"
        self._names.add(label)
        return label

    def observe(
        self,
        *,
        method: str,
        route: str,
        status: int,
        seconds: float,
        operation: str | None,
        outcome: str | None,
    ) -> None:
        """One answered request; ``operation`` (a label) for the GraphQL route only."""
        key = (method, route, status, operation, outcome)
        children = self._children.get(key)
        if children is None:
            children = self._children_of(method, route, status, operation, outcome)
        requests, duration, operations, operation_duration = children
        requests.inc()
        duration.observe(seconds)
        if operations is not None:
            operations.inc()
            operation_duration.observe(seconds)

    def _children_of(
        self, method: str, route: str, status: int, operation: str | None, outcome: str | None
    ) -> tuple:
        """The instruments' children a request with these values counts in, kept for the
        next one (as bounded as the label values are: methods, routes, statuses, at most
        ``MAX_OPERATIONS`` operation names, outcomes; never cached beyond a size)."""
        children: tuple = (
            self.http_requests.labels(
                method if method in _METHODS else "other", route, str(status)
            ),
            self.http_duration.labels(route),
            None,
            None,
        )
        if operation is not None:
            name = self._operation(operation)
            children = (
                *children[:2],
                self.operations.labels(name, outcome or NOT_EXECUTED),
                self.operation_duration.labels(name),
            )
            if name != operation:  # counted as "other": the raw name is not worth a key
                return children
        if len(self._children) < MAX_CACHED_CHILDREN:
            self._children[(method, route, status, operation, outcome)] = children
        return children

    async def refresh(self) -> None:
        """Reads what lives in the database (the outbox); on failure its gauges keep their
        last values and the failure is logged."""
        try:
            async with self.services.db.session() as session:
                backlog = await outbox_backlog(session)
        except Exception:
            log.exception("could not read the outbox for the metrics")
            return
        self.outbox_pending.set(backlog.pending)
        self.outbox_oldest.set(backlog.oldest_age_seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _refusal(request: Request, services: Services, networks: tuple[Network, ...]):
    settings = services.settings
    token = settings.metrics_token
    if settings.is_production and not token and not networks:
        return Response(status_code=404)
    if networks:
        client = request.client
        if client is None or not in_networks(client.host, networks):
            return Response(status_code=404)
    if token:
        scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return None


def metrics_route(services: Services, metrics: Metrics) -> Route:
    networks = parse_networks(services.settings.metrics_allow_from)

    async def endpoint(request: Request) -> Response:
        refused = _refusal(request, services, networks)
        if refused is not None:
            return refused
        await metrics.refresh()
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", endpoint, methods=["GET"])
