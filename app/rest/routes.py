"""BigTime's staff API under /api/v2: the same services as the GraphQL API, authenticated
the same way (X-Auth-Token and X-Auth-Realm, or Authorization: Bearer).

Answers: 200 with the object(s); 400 with messages for a body that is not valid; 405 when
a permission is missing (as BigTime does); 404 for a record the caller does not see (another
account's included); 401 without a valid token; 429 past a rate limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from app.access import Actor
from app.audit import changes as audit_changes
from app.audit import service as audit
from app.custom_fields import service as custom_fields
from app.db.base import id_from_digits
from app.errors import (
    AccessDenied,
    DomainError,
    ErrorCode,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)
from app.identity import service as identity
from app.invitations import add_staff
from app.invitations import service as invitations
from app.invitations.service import InvitationRequest
from app.rest import records
from app.rest.fields import View, bigtime_name, udf_path
from app.rest.openapi import document
from app.staff import access
from app.staff import service as staff_service
from app.staff.fields import BIGTIME_CATALOGUE
from app.staff.queries import StaffFilter, StaffQuery
from app.validation import unstorable_path
from app.web.auth_headers import credentials

log = logging.getLogger("roster")
PREFIX = "/api/v2"
PAGE = 100
# The most rows one answer of a list call may hold: what GraphQL's cost limit lets one
# document read (``app.graphql.limits``). BigTime's list calls have no paging: reading
# stops one row past it and the call is refused, so no answer reads a large account
# whole into memory; such an account is read in pages through GraphQL's connections.
MAX_ROWS = 25_000
EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _too_many(what: str) -> Refusal:
    return Refusal(
        _answer(
            400,
            f"More than {MAX_ROWS:,} {what}: too many for one answer; read them in pages "
            "through the GraphQL API.",
        )
    )


class NoStore(JSONResponse):
    """Answers carry personal data: never kept by caches."""

    def __init__(self, content, status_code: int = 200):
        super().__init__(content, status_code=status_code, headers={"Cache-Control": "no-store"})


class Refusal(Exception):
    def __init__(self, response: Response):
        self.response = response


def _answer(
    status: int, message: str, problems: list[tuple[str, str]] | None = None
) -> JSONResponse:
    body: dict = {"Message": message}
    if problems:
        body["Errors"] = [{"Field": f, "Message": m} for f, m in problems]
    return NoStore(body, status_code=status)


def _flag(request: Request, name: str) -> bool:
    """A query parameter, its name case-insensitive: true, 1 or yes."""
    for key, value in request.query_params.multi_items():
        if key.casefold() == name.casefold():
            return value.strip().casefold() in ("true", "1", "yes")
    return False


def _param(request: Request, name: str) -> str | None:
    for key, value in request.query_params.multi_items():
        if key.casefold() == name.casefold():
            return value
    return None


def _problems(exc: DomainError, name: Callable[[str], str]) -> list[tuple[str, str]]:
    errors = exc.errors if isinstance(exc, ValidationFailed) else [exc]
    return [(name(".".join(e.field)) if e.field else "", e.message) for e in errors]


def _domain_error(exc: DomainError, name: Callable[[str], str] = bigtime_name) -> JSONResponse:
    """The domain's error as BigTime's answer, its fields named by ``name`` (the domain's
    path -> BigTime's)."""
    errors = exc.errors if isinstance(exc, ValidationFailed) else [exc]
    if any(e.code is ErrorCode.FORBIDDEN for e in errors):
        return _answer(405, "You do not have permission for this.", _problems(exc, name))
    return _answer(400, "The request is not valid.", _problems(exc, name))


def _sid(request: Request) -> int:
    """The path's sid; digits for no record (too many, or not ASCII) are not found. Taken
    as text: Starlette's int convertor raises on thousands of digits."""
    sid = id_from_digits(request.path_params["sid"])
    if sid is None or not records.INT_RANGE[0] <= sid <= records.INT_RANGE[1]:
        raise Refusal(_answer(404, "Staff member not found."))
    return sid


async def _body(request: Request):
    try:
        body = json.loads(await request.body() or b"null")
        unstorable = unstorable_path(body) is not None
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise Refusal(_answer(400, "The body is not valid JSON.")) from None
    if unstorable:
        raise Refusal(_answer(400, "The body contains characters that are not allowed."))
    return body


def routes(services) -> list[Route]:
    settings = services.settings

    async def actor_of(session: AsyncSession, request: Request) -> Actor:
        token, realm = credentials(request)
        try:
            if not token:
                raise Unauthenticated()
            _, actor = await identity.authenticate_actor(session, token, realm)
        except Unauthenticated:
            raise Refusal(_answer(401, "A valid X-Auth-Token is required.")) from None
        if actor is None:
            raise Refusal(_answer(400, "Choose an account with the X-Auth-Realm header."))
        return actor

    async def find(session: AsyncSession, actor: Actor, sid: int):
        row = await staff_service.find_by_sid(session, actor, sid)
        if row is None:
            raise Refusal(_answer(404, "Staff member not found."))
        return row

    async def manager_sids(session: AsyncSession, actor: Actor, rows) -> dict[int, int]:
        ids = list({r.manager_id for r in rows if r.manager_id is not None})
        found = await staff_service.get_many(session, actor, ids) if ids else {}
        return {pk: row.sid for pk, row in found.items()}

    def view_of(request: Request) -> View:
        asked = (_param(request, "View") or "Basic").strip().casefold()
        return View.DETAILED if asked == "detailed" else View.BASIC

    async def detailed(session: AsyncSession, actor: Actor, row, view: View) -> dict:
        udfs = None
        if view is View.DETAILED:
            try:
                udfs = await custom_fields.values_of_staff(session, actor, row)
            except AccessDenied:
                udfs = None
        return records.render(
            row,
            actor,
            view,
            settings.keyring,
            manager_sids=await manager_sids(session, actor, [row]),
            udfs=udfs,
        )

    def endpoint(handler: Callable[..., Awaitable[Response]], *, write: bool = False):
        """Runs ``handler(request, session, actor)``; a write's changes are audited and
        committed, refusals become their answers."""

        async def run(request: Request) -> Response:
            try:
                async with asyncio.timeout(settings.request_timeout_seconds):
                    return await answer(request)
            except TimeoutError:  # nothing of it was committed
                log.error(
                    "REST request timed out request_id=%s",
                    getattr(request.state, "request_id", None),
                )
                return _answer(503, "The request took too long.")

        async def answer(request: Request) -> Response:
            async with services.db.session(write=write) as session:
                try:
                    actor = await actor_of(session, request)
                    response = await handler(request, session, actor)
                except Refusal as refusal:
                    await session.commit()  # rate-limit hits stay counted
                    return refusal.response
                except AccessDenied as exc:
                    return _answer(405, str(exc) or "You do not have permission for this.")
                except DomainError as exc:
                    return _domain_error(exc)
                except RateLimited as exc:
                    await session.commit()
                    answer = _answer(429, exc.message)
                    answer.headers["Retry-After"] = str(exc.retry_after)
                    return answer
                if write:
                    collected = audit_changes.take(session)
                    if collected:
                        await audit.record(
                            session,
                            action=handler.__name__,
                            who=audit.Who(
                                user_id=actor.user_id,
                                staff_id=actor.staff_id,
                                account_id=actor.account_id,
                                impersonator_user_id=getattr(actor, "impersonator_user_id", None),
                            ),
                            changes=collected,
                            request_id=getattr(request.state, "request_id", None),
                            client_address=request.client.host if request.client else None,
                        )
                    await session.commit()
                return response

        return run

    async def in_savepoint(
        session: AsyncSession,
        action: Callable[[], Awaitable],
        name: Callable[[str], str] = bigtime_name,
    ):
        """The write, all or nothing: a domain error leaves nothing of it (400 or 405)."""
        position = audit_changes.mark(session)
        try:
            async with session.begin_nested():
                return await action()
        except DomainError as exc:
            audit_changes.rollback_to(session, position)
            raise Refusal(_domain_error(exc, name)) from None
        except BaseException:
            audit_changes.rollback_to(session, position)
            raise

    # --- GET /staff -------------------------------------------------------------------

    async def staff_list(request: Request, session: AsyncSession, actor: Actor) -> Response:
        # ShowInactive is a filter by IsInactive: for those to whom that field is open
        # (guests see only active records of their projects)
        inactive = _flag(request, "ShowInactive") and access.open_to(actor, "is_inactive")
        query = StaffQuery(first=PAGE, filter=StaffFilter(include_inactive=inactive))
        rows = []
        while True:
            page = await staff_service.list_staff(session, actor, query)
            rows.extend(page.rows)
            if len(rows) > MAX_ROWS:
                raise _too_many("staff records")
            if not page.has_next:
                break
            query = replace(query, after=page.cursors[-1])
        sids = await manager_sids(session, actor, rows)
        return NoStore(
            [
                records.render(r, actor, View.BASIC, settings.keyring, manager_sids=sids)
                for r in rows
            ]
        )

    # --- GET /staff/detail/{sid} ------------------------------------------------------

    async def staff_detail(request: Request, session: AsyncSession, actor: Actor) -> Response:
        row = await find(session, actor, _sid(request))
        return NoStore(await detailed(session, actor, row, view_of(request)))

    # --- POST /staff/add?inviteUser= --------------------------------------------------

    async def staffCreate(request: Request, session: AsyncSession, actor: Actor) -> Response:  # noqa: N802 (the audit log's action name)
        staff_service.require_adding(actor)  # 405 before the body is looked at
        body = await _body(request)
        try:
            data, sids = records.changes_from(body)
        except records.BadInput as exc:
            raise Refusal(_answer(400, "The request is not valid.", exc.problems)) from None
        missing = records.missing_required(body)
        if missing:
            raise Refusal(_answer(400, "The request is not valid.", missing))
        for field, sid in sids.items():
            referenced = await staff_service.find_by_sid(session, actor, sid)
            if referenced is None:
                name = bigtime_name(field)
                raise Refusal(
                    _answer(
                        400, "The request is not valid.", [(name, f"No staffer has {name} {sid}.")]
                    )
                )
            data[field] = referenced.id
        invite = _flag(request, "inviteUser")
        if invite:
            await invitations.count_sent(session, services.limiter, actor)
        request_ = InvitationRequest(email=None) if invite else None
        row = await in_savepoint(
            session,
            lambda: add_staff.add_staff(
                session,
                actor,
                settings,
                data,
                project_ids=[],
                invite=request_,
                catalogue=BIGTIME_CATALOGUE,
            ),
        )
        viewer = add_staff.as_creator(actor, row)
        return NoStore(await detailed(session, viewer, row, View.DETAILED))

    # --- GET|POST /staff/UDFList/{sid} ------------------------------------------------

    async def udf_list(request: Request, session: AsyncSession, actor: Actor) -> Response:
        row = await find(session, actor, _sid(request))
        values = await custom_fields.values_of_staff(session, actor, row)
        return NoStore([records.udf(f, v) for f, v in values])

    async def staffCustomFieldsSet(  # noqa: N802 (the audit log's action name)
        request: Request, session: AsyncSession, actor: Actor
    ) -> Response:
        row = await find(session, actor, _sid(request))
        body = await _body(request)
        items = None
        if isinstance(body, dict):
            items = next((v for k, v in body.items() if k.casefold() == "udflist"), None)
        elif isinstance(body, list):
            items = body
        if not isinstance(items, list):
            raise Refusal(
                _answer(400, 'The body must be {"UDFList": [{"Sid": ..., "Value": ...}]}.')
            )
        values = []
        problems = []
        for index, item in enumerate(items):
            given = {k.casefold(): v for k, v in item.items()} if isinstance(item, dict) else {}
            sid, value = given.get("sid"), given.get("value")
            if isinstance(sid, bool) or not isinstance(sid, int):
                problems.append((f"UDFList.{index}.Sid", "Sid must be an integer."))
            elif not records.INT_RANGE[0] <= sid <= records.INT_RANGE[1]:
                problems.append((f"UDFList.{index}.Sid", "Sid is out of range."))
            elif value is not None and (
                isinstance(value, bool) or not isinstance(value, str | int | float)
            ):
                # a String (a number is taken as its text); true/false, objects and lists
                # have no one text a custom field's value would be
                problems.append((f"UDFList.{index}.Value", "Value must be a string."))
            else:
                values.append((sid, None if value is None else str(value)))
        if problems:
            raise Refusal(_answer(400, "The request is not valid.", problems))
        await in_savepoint(
            session, lambda: custom_fields.set_values(session, actor, row.id, values), udf_path
        )
        values_now = await custom_fields.values_of_staff(session, actor, row)
        return NoStore([records.udf(f, v) for f, v in values_now])

    # --- POST /staff/UDFListByName ----------------------------------------------------

    async def udf_list_by_name(request: Request, session: AsyncSession, actor: Actor) -> Response:
        body = await _body(request)
        if body is None:
            body = []
        if not isinstance(body, list) or not all(isinstance(n, str) for n in body):
            raise Refusal(_answer(400, "The body must be a JSON array of custom field names."))
        try:
            values = await custom_fields.values_by_names(session, actor, body, limit=MAX_ROWS)
        except DomainError as exc:
            if exc.code != ErrorCode.LIMIT_REACHED:
                raise Refusal(_answer(400, str(exc))) from None
            raise _too_many("custom field values") from None
        owners = await staff_service.get_many(session, actor, list({v.staff_id for v in values}))
        return NoStore(
            [
                records.udf(v.field, v.value, owners[v.staff_id].sid)
                for v in values
                if v.staff_id in owners
            ]
        )

    async def openapi(request: Request) -> Response:
        return JSONResponse(document(PREFIX))

    def no_such_call(request: Request) -> Response:
        """Any other path or method under the prefix: 404 in BigTime's error shape. A known
        path asked with another method is 404 too, not HTTP's 405, which BigTime's
        clients read as a missing permission; the message and Allow name the methods."""
        allowed = sorted(
            {
                method
                for route in served
                if route.matches(request.scope)[0] is not Match.NONE
                for method in route.methods or ()
                if method != "HEAD"
            }
        )
        if not allowed:
            return _answer(404, f"There is no call {request.url.path}.")
        answer = _answer(
            404,
            f"{request.url.path} does not take {request.method}; it takes {' or '.join(allowed)}.",
        )
        answer.headers["Allow"] = ", ".join(allowed)
        return answer

    async def unknown(request: Request) -> Response:
        return no_such_call(request)

    served = [
        Route(f"{PREFIX}/openapi.json", openapi, methods=["GET"]),
        Route(f"{PREFIX}/staff", endpoint(staff_list), methods=["GET"]),
        Route(f"{PREFIX}/staff/detail/{{sid}}", endpoint(staff_detail), methods=["GET"]),
        Route(f"{PREFIX}/staff/add", endpoint(staffCreate, write=True), methods=["POST"]),
        Route(f"{PREFIX}/staff/add/", endpoint(staffCreate, write=True), methods=["POST"]),
        Route(f"{PREFIX}/staff/UDFList/{{sid}}", endpoint(udf_list), methods=["GET"]),
        Route(
            f"{PREFIX}/staff/UDFList/{{sid}}",
            endpoint(staffCustomFieldsSet, write=True),
            methods=["POST"],
        ),
        Route(f"{PREFIX}/staff/UDFListByName", endpoint(udf_list_by_name), methods=["POST"]),
    ]
    return [*served, Route(f"{PREFIX}/{{path:path}}", unknown, methods=EVERY_METHOD)]
