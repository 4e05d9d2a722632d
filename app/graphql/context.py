"""Per-request context: settings, services, one lazily opened session, the actor."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from app.access import Actor, own_session_refusal
from app.audit.service import Who
from app.errors import AccessDenied, Unauthenticated
from app.graphql.errors import forbidden, unauthenticated
from app.identity import answered_first
from app.identity import service as identity
from app.identity.credentials import TokenGate
from app.identity.service import Counting, Principal
from app.security import rate_limits
from app.services import Services


class RequestEnded(RuntimeError):
    """A request past its time limit asked for its session (``Context.end``)."""

    def __init__(self):
        super().__init__("the request has ended: nothing more is read or written for it")


@dataclass
class Context:
    request: Request
    services: Services
    request_id: str
    token: str | None = None
    realm: str | None = None
    write: bool = False
    _session: AsyncSession | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _auth: tuple[Principal | None, Actor | None, Exception | None] | None = None
    _torn: bool = False  # a user of the session was cancelled while it held it
    _ended: bool = False  # past its time limit: no session opens for it any more (``end``)
    loaders: dict = field(default_factory=dict)
    failed: bool = False
    operation_name: str | None = None
    """The operation run, as the document and ``operationName`` name it (metrics, traces,
    the access log); None for an anonymous operation or a document that did not parse."""
    operation_name_sent: bool | None = None
    """Whether the request named its operation (``operationName``); None where that is not
    known. A document of several operations needs one (``DocumentCache``)."""
    # Over a websocket (app.graphql.socket): the connection_init payload, the connection's
    # state, the process's live fan-out, and how to close the socket.
    connection_params: dict | None = None
    socket: Any = None
    live: Any = None
    close_socket: Callable[[int, str], Awaitable[None]] | None = None
    # A subscription's cost check with the account's sizes of the moment: its document is
    # run again for each event, as the account grows (``RequestLifecycle``).
    cost_check: Callable[[], Awaitable[Any]] | None = None

    @property
    def over_socket(self) -> bool:
        return self.connection_params is not None

    def for_operation(self, request_id: str) -> Context:
        """A context of its own for one operation of a websocket connection (its own
        session, lock, loaders and authentication), sharing the connection's credentials."""
        return dataclasses.replace(
            self,
            request_id=request_id,
            _session=None,
            _lock=asyncio.Lock(),
            _auth=None,
            loaders={},
            failed=False,
            operation_name=None,
            cost_check=None,
        )

    async def reset_unit_of_work(self) -> None:
        """Ends the session and forgets what it loaded and who authenticated (a
        subscription does this before each event: access is read afresh)."""
        await self.close(commit=False)
        self._auth = None
        self.loaders = {}

    @property
    def settings(self):
        return self.services.settings

    def session(self) -> AsyncSession:
        """Resolvers use this only while holding the lock (see ``db``). A reading request's
        is a ``ReadingSession`` (app.db.reading), which offers what an ``AsyncSession`` does
        and makes one only when something needs more than prepared reads."""
        if self._ended:
            raise RequestEnded()
        if self._session is None:
            db = self.services.db
            self._session = (
                db.session(write=True) if self.write else cast(AsyncSession, db.reading())
            )
        return self._session

    def end(self) -> None:
        """The request is over (past its time limit): whatever of it still runs (a
        DataLoader batch dispatched in a task of its own, which the time limit does not
        cancel) may no longer open a session, which nothing would close."""
        self._ended = True

    @property
    def has_session(self) -> bool:
        return self._session is not None

    @property
    def client_address(self) -> str | None:
        client = self.request.client
        return client.host if client else None

    def token_gate(self) -> TokenGate:
        """This client's looks at emailed links' tokens (counted per address)."""
        return self.services.token_gate(self.client_address)

    def audit_who(self, collected: list[dict]) -> Who:
        principal, actor, _ = self._auth or (None, None, None)
        if actor is not None:
            return Who(
                user_id=actor.user_id,
                staff_id=actor.staff_id,
                account_id=actor.account_id,
                impersonator_user_id=getattr(actor, "impersonator_user_id", None),
            )
        user_id = principal.user_id if principal else None
        if user_id is None:
            for change in collected:
                if change["table"] == "auth_tokens" and change["op"] == "insert":
                    user_id = change["fields"].get("user_id", [None, None])[1]
        return Who(user_id=user_id, staff_id=None, account_id=None)

    async def close(self, *, commit: bool) -> None:
        """Commits (if asked) and closes the session, once no one uses it.

        Sibling root fields run concurrently, and DataLoader batches as tasks of their own:
        when a non-null root field fails, graphql-core answers at once and cancels the
        siblings, maybe in the middle of a statement. Closing waits for whoever holds the
        session to let go, and a session whose user was cancelled holding it is discarded
        (its connection invalidated, never rolled back over a torn statement) rather than
        closed, so the request's answer is graphql-core's and the pool gets no broken
        connection back.

        A session not committed (the operation refused as a whole, out of time, failed)
        takes its rate-limit hits with it: they are counted again in a transaction of their
        own (``rate_limits.count_again``), so no document undoes its attempts. The work it
        left for after the answer (a reset email) is withdrawn: nothing asked for it."""
        async with self._lock:
            session, torn = self._session, self._torn
            self._session, self._torn = None, False
            if session is None:
                return
            hits = rate_limits.uncommitted(session)
            committed = False
            try:
                if torn:
                    await session.invalidate()
                    return
                try:
                    if commit:
                        await session.commit()
                        committed = True
                finally:
                    # Closing rolls back what was not committed: one pass through
                    # SQLAlchemy's transaction machinery instead of a rollback and a close.
                    await session.close()
            finally:
                if not committed:  # the request's attempts stay counted all the same
                    answered_first.withdraw_deferred(session)
                    await rate_limits.count_again(self.services.db, hits)

    async def _authenticate(self) -> tuple[Principal | None, Actor | None, Exception | None]:
        if self._auth is None:
            await self._sign_in(None)
        assert self._auth is not None
        return self._auth

    async def _sign_in(self, counting: Counting | None) -> tuple | None:
        """Authenticates the request (``_auth``); the values of ``counting``'s columns
        the same statement read for the actor, if any."""
        if not self.token:
            self._auth = (None, None, Unauthenticated())
            return None
        try:
            principal, actor, counted = await identity.authenticate_counting(
                self.session(), self.token, self.realm, counting
            )
        except Unauthenticated as exc:
            self._auth = (None, None, exc)
            return None
        self._auth = (principal, actor, None)
        return counted

    async def counted_with_actor(self, counting: Counting) -> tuple | None:
        """The values of ``counting``'s columns for the actor's account and user, read by
        the authentication's statement: when this request has not authenticated yet (it
        then has), and has an actor. None otherwise."""
        async with self._exclusive():
            return None if self._auth is not None else await self._sign_in(counting)

    @asynccontextmanager
    async def _exclusive(self):
        """Holds the session's lock; a holder cancelled mid-way marks the session torn."""
        async with self._lock:
            try:
                yield
            except asyncio.CancelledError:
                self._torn = self._session is not None
                raise

    @asynccontextmanager
    async def db(self):
        """Exclusive use of the request's session (sibling resolvers run concurrently)."""
        async with self._exclusive():
            yield self.session()

    @asynccontextmanager
    async def as_principal(self):
        async with self._exclusive():
            principal, _, error = await self._authenticate()
            if error is not None:
                raise unauthenticated()
            yield self.session(), principal

    @asynccontextmanager
    async def as_actor(self):
        """Session and actor of the current account, or a top-level error."""
        async with self._exclusive():
            _, actor, error = await self._authenticate()
            if error is not None:
                raise unauthenticated()
            if actor is None:
                raise forbidden(
                    "You belong to several accounts: choose one with the X-Auth-Realm header."
                )
            try:
                yield self.session(), actor
            except AccessDenied as exc:
                raise forbidden(str(exc) or "You may not perform this operation.") from None

    @asynccontextmanager
    async def as_anyone(self):
        """Session and, if a valid token came with the request, its principal (else None)."""
        async with self._exclusive():
            principal = None
            if self.token:
                principal, _, _ = await self._authenticate()
            yield self.session(), principal

    async def impersonating(self) -> bool:
        async with self._exclusive():
            principal = None
            if self.token:
                principal, _, _ = await self._authenticate()
            return principal is not None and principal.impersonator_user_id is not None

    async def own_session_refusal(self) -> str | None:
        """Why this request's token may not manage its user's credentials
        (``app.access.own_session_refusal``); None without a (valid) token or with the
        user's own session."""
        async with self._exclusive():
            principal = None
            if self.token:
                principal, _, _ = await self._authenticate()
            return None if principal is None else own_session_refusal(principal)

    async def optional_actor(self) -> Actor | None:
        async with self._exclusive():
            _, actor, _ = await self._authenticate()
            return actor
