"""GET /export/staff.csv and /export/account.json, authenticated like the GraphQL API;
who may export is the domain's rule (app.staff.export.require_export: administrators)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import aclosing

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from app.accounts.backup import account_json
from app.audit import service as audit
from app.errors import AccessDenied, Unauthenticated
from app.foreground import as_background
from app.identity import service as identity
from app.security.export_slots import ExportsBusy
from app.staff.export import same_reader, staff_csv
from app.web.auth_headers import credentials

log = logging.getLogger("roster")

# A download whose client takes nothing for this long is ended. An export holds a database
# connection (and on PostgreSQL a snapshot) while it streams: a client that stops reading
# would hold them as long as its connection lives, and a few such downloads would hold the
# pool that every other request needs.
STALL_SECONDS = 60.0
# How often a download asks whether its reader may still take it as it began: a member
# disabled or demoted, a key revoked, the personal-data permit withdrawn meanwhile ends it.
RECHECK_SECONDS = 10.0


class DownloadEnded(Exception):
    """A download ended before its file did (the client sees a broken download)."""


class TookTooLong(DownloadEnded):
    """A download streamed longer, or more slowly, than it may (``ExportSlots.over``)."""


class AccessLost(DownloadEnded):
    """The download's reader no longer holds the access it began with."""


class Download(StreamingResponse):
    """A streamed export that ends when its client stops taking it (``STALL_SECONDS``) or
    it has streamed as long as it may (``TookTooLong``); either way its body is closed at
    once, so its unit of work gives its connection back, and the server closes the
    connection of a response that did not end: the client sees a broken download, never
    a short file that looks whole."""

    def __init__(self, *args, ended: Callable[[], object], **kwargs):
        super().__init__(*args, **kwargs)
        self.ended = ended  # called once the download is over, even if it never began

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stalled = False

        async def taken_in_time(message: Message) -> None:
            nonlocal stalled
            try:
                async with asyncio.timeout(STALL_SECONDS):
                    await send(message)
            except TimeoutError:
                stalled = True
                raise

        try:
            await super().__call__(scope, receive, taken_in_time)
        except DownloadEnded as exc:
            log.warning("download ended: %s", exc)
        except BaseException as exc:
            if not stalled or isinstance(exc, asyncio.CancelledError):  # shutting down
                raise
            # the server closes a connection whose response did not end
            log.warning("download ended: its client took nothing for %ss", STALL_SECONDS)
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]
            self.ended()  # a body never begun runs no ``finally`` of its own


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status
    )


def routes(services) -> list[Route]:
    async def actor_and_session(request: Request):
        token, realm = credentials(request)
        session = services.db.session()
        try:
            if not token:
                raise Unauthenticated()
            _, actor = await identity.authenticate_actor(session, token, realm)
        except Unauthenticated:
            await session.close()
            return None, None, _error(401, "UNAUTHENTICATED", "Authentication required.")
        if actor is None:
            await session.close()
            return None, None, _error(403, "FORBIDDEN", "Choose an account with X-Auth-Realm.")
        return actor, session, None

    async def standing(request: Request, actor, build) -> bool | None:
        """Whether the request's credentials still sign in the reader in the download's
        account, the domain would still let them begin it (``build`` refuses at once,
        reading nothing) and it is still theirs as it began (``same_reader``); None when
        that cannot be told in time (the database slow or failing: asked again later)."""
        token, _ = credentials(request)
        try:
            async with asyncio.timeout(RECHECK_SECONDS / 2), services.db.session() as session:
                # in the account it began in, whichever others the reader joined since
                _, now = await identity.authenticate_actor(
                    session, token or "", str(actor.account_id)
                )
                if now is None:
                    return False
                await build(session, now, services.settings.keyring, services.offload).aclose()
        except (Unauthenticated, AccessDenied):
            return False
        except Exception:
            log.warning("a download's reader could not be asked about", exc_info=True)
            return None
        return same_reader(actor, now)

    def stream(
        request, session, chunks, media_type: str, filename: str, slot, actor, build
    ) -> StreamingResponse:
        async def body():
            as_background(request.scope)  # a long job: interactive requests go first
            loop = asyncio.get_running_loop()
            began = checked = loop.time()
            sent = 0
            try:
                async with aclosing(chunks):
                    async for chunk in chunks:
                        yield chunk
                        sent += len(chunk)
                        if (why := services.exports.over(loop.time() - began, sent)) is not None:
                            raise TookTooLong(why)
                        if loop.time() - checked >= RECHECK_SECONDS:
                            if await standing(request, actor, build) is False:
                                raise AccessLost("its reader's access changed")
                            checked = loop.time()
            finally:
                slot.close()
                await session.close()

        return Download(
            body(),
            ended=slot.close,
            media_type=media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def export(
        request: Request, build, action: str, media_type: str, filename: str
    ) -> Response:
        """The domain decides who may export (``build`` refuses before streaming)."""
        actor, session, error = await actor_and_session(request)
        if error:
            return error
        await session.close()
        # The export reads in a unit of work of its own, whose first read comes after the
        # audit entry below is kept (a backup holds its own entry); ``build`` reads nothing
        # until it is streamed, and refuses at once.
        session = services.db.session()
        try:
            chunks = build(session, actor, services.settings.keyring, services.offload)
        except AccessDenied as exc:
            await session.close()
            return _error(403, "FORBIDDEN", str(exc))
        slot = contextlib.ExitStack()  # given back when the download ends, or here
        try:
            slot.enter_context(services.exports.slot(actor.account_id))
        except ExportsBusy as busy:
            await session.close()
            limited = _error(429, "RATE_LIMITED", str(busy))
            limited.headers["Retry-After"] = "60"
            return limited
        # Who took the account's data, kept before the first byte goes.
        try:
            async with services.db.session(write=True) as writing:
                await audit.record_taken(
                    writing,
                    action=action,
                    actor=actor,
                    request_id=getattr(request.state, "request_id", None),
                    client_address=request.client.host if request.client else None,
                )
                await writing.commit()
        except BaseException:
            slot.close()
            await session.close()
            raise
        return stream(request, session, chunks, media_type, filename, slot, actor, build)

    async def staff_export(request: Request) -> Response:
        return await export(
            request, staff_csv, "staffExport", "text/csv; charset=utf-8", "staff.csv"
        )

    async def account_export(request: Request) -> Response:
        return await export(
            request, account_json, "accountBackup", "application/json", "account.json"
        )

    return [
        Route("/export/staff.csv", staff_export, methods=["GET"]),
        Route("/export/account.json", account_export, methods=["GET"]),
    ]
