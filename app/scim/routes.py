"""SCIM 2.0 (RFC 7643/7644) at /scim/v2 for the account of an API key with the ``scim``
scope (``Authorization: Bearer <key>``): discovery (ServiceProviderConfig, ResourceTypes,
Schemas), Users, mapped onto staff records, and Groups, mapped onto projects
(``app.scim.resources``). Managing Groups is managing projects, which the projects
service allows administrators (a key with the ``admin`` scope besides ``scim``).

Translation only: the staff and provisioning services decide and write, for the actor
access builds for the SCIM surface (``Surface.SCIM``: the only place a key's ``scim``
scope counts, ``app.access.scopes.SURFACE_SCOPES``). Errors are SCIM
Error messages: 401 without a valid key, 403 for a key without the scope (or a creator
who lost it), 404 for a record not in the key's account, 409 uniqueness for a taken
userName or externalId, 400 invalidValue / invalidFilter / invalidSyntax, 403 when the
account has no free seat for a change that needs one.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Awaitable, Callable

from pydantic import ValidationError
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    ETag,
    Filter,
    PatchOp,
    ResourceType,
    ResponseParameters,
    SchemaExtension,
    SCIMException,
    ScimFilter,
    ScimPolicy,
    ServiceProviderConfig,
    Sort,
)
from scim2_models import Patch as PatchSupport
from scim2_models.path.expressions import (
    AttrPath,
    CompareOperator,
    Comparison,
    LogicalExpr,
    LogicalOperator,
    ValuePath,
)
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from app.access import Actor
from app.access.scopes import Surface
from app.audit import changes as audit_changes
from app.audit import service as audit
from app.db.base import MAX_ID
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
from app.projects import service as projects
from app.scim.resources import (
    PATCH_OP,
    BadValue,
    EnterpriseUser,
    Group,
    Replacement,
    User,
    changes_of,
    email_operations,
    ignored_operations,
    member_operations,
    number_of,
    project_id_of,
    removes_active,
    render,
    render_group,
    seed_typed_values,
    with_user_name,
)
from app.staff import membership, provisioning, stamps
from app.staff import service as staff_service
from app.validation import UNSTORABLE, integer_of, unstorable_path
from app.web.auth_headers import credentials

log = logging.getLogger("roster")
PREFIX = "/scim/v2"
MEDIA = "application/scim+json"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
MAX_RESULTS = provisioning.MAX_PAGE
# The most members one answer of GET /Groups lists (over all its Groups): an answer is
# bounded, as REST's lists are, and not by the account's size. Past it: tooMany, and the
# way round (excludedAttributes=members, as Entra ID and Okta ask, or a smaller count).
MAX_MEMBERS_SHOWN = 25_000
# the attributes a filter may name (RFC 7644 §3.4.2.2; others answer invalidFilter)
FILTERABLE = {"username": "email", "emails.value": "email", "externalid": "external_id"}
GROUP_FILTERABLE = {"displayname": "name", "externalid": "external_id"}
# what the catch-all answers, so that no method gets Starlette's plain-text 405
EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class Scim(JSONResponse):
    media_type = MEDIA

    def __init__(self, content, status_code: int = 200, headers: dict | None = None):
        super().__init__(
            content,
            status_code=status_code,
            headers={"Cache-Control": "no-store"} | (headers or {}),
        )


class Refusal(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None):
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type

    def response(self) -> Response:
        body: dict = {"schemas": [ERROR], "status": str(self.status), "detail": self.detail}
        if self.scim_type:
            body["scimType"] = self.scim_type
        response = Scim(body, status_code=self.status)
        if self.status == 401:  # RFC 7235 3.1, RFC 6750 3: how to authenticate
            response.headers["WWW-Authenticate"] = 'Bearer realm="scim"'
        return response


def _from_domain(exc: DomainError) -> Refusal:
    errors = exc.errors if isinstance(exc, ValidationFailed) else [exc]
    detail = "; ".join(e.message for e in errors)
    codes = {e.code for e in errors}
    if ErrorCode.TAKEN in codes:
        return Refusal(409, detail, "uniqueness")
    if ErrorCode.SEAT_LIMIT_REACHED in codes:
        return Refusal(403, detail)
    if ErrorCode.FORBIDDEN in codes:
        return Refusal(403, detail)
    if ErrorCode.NOT_FOUND in codes and all(e.field != ["manager_id"] for e in errors):
        return Refusal(404, detail)
    return Refusal(400, detail, "invalidValue")


def service_provider_config(base: str) -> dict:
    config = ServiceProviderConfig(
        documentation_uri=None,
        patch=PatchSupport(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="API key",
                description="An API key with the scim scope: Authorization: Bearer <key>.",
                primary=True,
            )
        ],
    )
    out = config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    out["meta"] = {
        "resourceType": "ServiceProviderConfig",
        "location": f"{base}/ServiceProviderConfig",
    }
    return out


RESOURCE_TYPES = {
    "User": ResourceType(
        id="User",
        name="User",
        endpoint="/Users",
        description="A staff record of the account.",
        schema_=User.__schema__,
        schema_extensions=[SchemaExtension(schema_=EnterpriseUser.__schema__, required=False)],
    ),
    "Group": ResourceType(
        id="Group",
        name="Group",
        endpoint="/Groups",
        description="A project of the account; its members are Users.",
        schema_=Group.__schema__,
    ),
}


def resource_type(base: str, name: str = "User") -> dict:
    out = RESOURCE_TYPES[name].model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    out["meta"] = {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/{name}"}
    return out


def schemas(base: str) -> list[dict]:
    out = []
    for model in (User, EnterpriseUser, Group):
        schema = model.to_schema().model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        schema["meta"] = {"resourceType": "Schema", "location": f"{base}/Schemas/{schema['id']}"}
        out.append(schema)
    return out


def _list(resources: list[dict], total: int | None = None, start: int = 1) -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": len(resources) if total is None else total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def _value_of_work_email(term: ValuePath) -> Comparison | None:
    """The comparison a value path filters by: ``emails[value eq "..."]``, or as Entra ID
    writes it, ``emails[type eq "work"].value eq "..."`` (which parses as ``emails[type eq
    "work" and value eq "..."]``): Roster's one email is the work email. None for any
    other form (refused as a filter Roster does not take)."""
    inner = term.val_filter
    if isinstance(inner, Comparison):
        return inner
    if not (isinstance(inner, LogicalExpr) and inner.op == LogicalOperator.and_):
        return None
    values = []
    for part in inner.terms:
        if not isinstance(part, Comparison) or part.op != CompareOperator.eq:
            return None
        name = part.attr_path.attr.casefold()
        if name == "type" and isinstance(part.value, str) and part.value.casefold() == "work":
            continue
        if name == "primary" and part.value is True:
            continue
        values.append(part)
    return values[0] if len(values) == 1 else None


def _criteria(text: str | None, filterable: dict[str, str] = FILTERABLE, resource=User) -> dict:
    """A filter as find_for_provisioning's keywords: ``eq`` on userName, externalId,
    emails.value (or ``emails[value eq ...]``) and active, joined by ``and`` (for Groups,
    find_projects' on displayName and externalId)."""
    names = ", ".join(sorted(filterable)) + (" and active" if resource is User else "")
    if not text:
        return {}
    try:
        ast = ScimFilter(text).ast
    except (ValueError, SCIMException) as exc:
        raise Refusal(400, f"The filter is not valid: {exc}", "invalidFilter") from None
    terms = ast.terms if isinstance(ast, LogicalExpr) and ast.op == LogicalOperator.and_ else (ast,)
    criteria: dict = {}
    for term in terms:
        if isinstance(term, ValuePath) and (inner := _value_of_work_email(term)) is not None:
            term = Comparison(
                AttrPath(term.attr_path.attr, inner.attr_path.attr), inner.op, inner.value
            )
        if not isinstance(term, Comparison) or term.op != CompareOperator.eq:
            raise Refusal(400, f"Roster filters with eq on {names}.", "invalidFilter")
        attr = term.attr_path
        name = (f"{attr.attr}.{attr.sub_attr}" if attr.sub_attr else attr.attr).casefold()
        if attr.uri and attr.uri != resource.__schema__:
            name = ""
        value: str | bool
        if name == "active" and resource is User and isinstance(term.value, bool):
            key, value = "active", term.value
        elif name in filterable and isinstance(term.value, str):
            key, value = filterable[name], term.value
        else:
            raise Refusal(
                400,
                f"Roster cannot filter by {attr} eq {term.value!r}: it filters with eq on {names}.",
                "invalidFilter",
            )
        if isinstance(value, str) and UNSTORABLE.search(value):
            raise Refusal(
                400,
                f"{attr}: holds a character no field accepts (NUL or a lone surrogate).",
                "invalidFilter",
            )
        if key in criteria and criteria[key] != value:
            return {"none": True}
        criteria[key] = value
    return criteria


def _int_param(request: Request, name: str, default: int) -> int:
    return _int_of(request.query_params.get(name), name, default)


def _int_of(raw, name: str, default: int) -> int:
    """An integer parameter (a JSON number, or ASCII digits with an optional "-"), held
    within the ids' range: a larger startIndex is past every result anyway, and a larger
    count is capped below it."""
    if raw is None:
        return default
    if isinstance(raw, str):
        raw = integer_of(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise Refusal(400, f"{name} must be an integer.", "invalidValue")
    return max(-MAX_ID, min(raw, MAX_ID))


def _asked_for(attribute: str, attributes: str | None, excluded: str | None) -> bool:
    """Whether an answer shows ``attribute`` or part of it (RFC 7644 3.4.2.5), as
    ``_shaped`` decides: named in ``attributes`` (``members``, ``members.value``, with or
    without its schema's URN), or, without ``attributes``, not left out whole."""
    wanted = attribute.casefold()

    def names(text: str | None) -> list[str]:
        # a name without its schema's URN (the URN holds colons, the name none)
        return [a.strip().casefold().rsplit(":", 1)[-1] for a in (text or "").split(",")]

    if attributes and attributes.strip():
        return any(n == wanted or n.startswith(wanted + ".") for n in names(attributes))
    return wanted not in names(excluded)


def _shaped(resource: dict, attributes: str | None, excluded: str | None, model=User) -> dict:
    """``attributes`` / ``excludedAttributes`` (RFC 7644 §3.4.2.5), by scim2-models."""
    if not attributes and not excluded:
        return resource
    try:
        parameters = ResponseParameters[model](
            attributes=[a.strip() for a in attributes.split(",")] if attributes else None,
            excluded_attributes=[a.strip() for a in excluded.split(",")] if excluded else None,
        )
    except (ValidationError, ValueError, SCIMException) as exc:
        raise Refusal(400, f"attributes: {exc}", "invalidPath") from None
    shown = model.model_validate(resource, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return shown.model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=parameters
    )


def _names_of(body: dict, name: str) -> str | None:
    """``attributes`` or ``excludedAttributes`` of a search request (RFC 7644 §3.4.3): a
    list of attribute names, or as in a query, one string of them joined by commas."""
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise Refusal(400, f"{name} must be a list of attribute names.", "invalidValue")


async def _json(request: Request) -> dict:
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, RecursionError):
        raise Refusal(400, "The body is not valid JSON.", "invalidSyntax") from None
    if not isinstance(body, dict):
        raise Refusal(400, "The body must be a JSON object.", "invalidSyntax")
    if (path := unstorable_path(body)) is not None:
        where = ".".join(str(p) for p in path)
        raise Refusal(
            400,
            f"{where}: holds a character no field accepts (NUL or a lone surrogate).",
            "invalidValue",
        )
    return body


# Attributes Roster does not serve (Okta's password and locale, Entra's roles) are ignored.
TOLERANT = ScimPolicy(unknown=ScimPolicy.Unknown.ignore)


def _validated(model, body: dict, context: Context):
    try:
        return model.model_validate(body, scim_ctx=context, scim_policy=TOLERANT)
    except SCIMException as exc:
        raise Refusal(400, str(exc), getattr(exc, "scim_type", None) or "invalidValue") from None
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise Refusal(400, detail or "The body is not valid.", "invalidValue") from None


def routes(services) -> list[Route]:
    settings = services.settings

    async def actor_of(session: AsyncSession, request: Request) -> Actor:
        token, _ = credentials(request)
        try:
            if not token:
                raise Unauthenticated()
            _, actor = await identity.authenticate_actor(session, token, None, surface=Surface.SCIM)
        except Unauthenticated:
            raise Refusal(401, "A valid API key is required (Authorization: Bearer).") from None
        if actor is None:
            raise Refusal(401, "SCIM needs an API key, which is bound to one account.")
        try:
            provisioning.require_provisioning(actor)
        except AccessDenied as exc:
            raise Refusal(403, str(exc)) from None
        return actor

    def base_of(request: Request) -> str:
        """Where the resources are, as every link Roster makes: from its public URL, never
        from the request's Host (behind a proxy, or sent by anyone)."""
        return settings.public_url.rstrip("/") + PREFIX

    def endpoint(handler: Callable[..., Awaitable[Response]], *, write: bool = False):
        async def run(request: Request) -> Response:
            try:
                async with asyncio.timeout(settings.request_timeout_seconds):
                    return await answer(request)
            except TimeoutError:
                return Refusal(503, "The request took too long.").response()

        async def answer(request: Request) -> Response:
            async with services.db.session(write=write) as session:
                try:
                    actor = await actor_of(session, request)
                    response = await handler(request, session, actor)
                except Refusal as refusal:
                    await session.rollback()
                    return refusal.response()
                except AccessDenied as exc:
                    await session.rollback()
                    return Refusal(403, str(exc) or "Not allowed.").response()
                except DomainError as exc:
                    await session.rollback()
                    return _from_domain(exc).response()
                except RateLimited as exc:
                    # nothing of a refused request stays (a sending limit counts only
                    # what is sent)
                    await session.rollback()
                    limited = Refusal(429, exc.message).response()
                    limited.headers["Retry-After"] = str(exc.retry_after)
                    return limited
                if write:
                    collected = audit_changes.take(session)
                    if collected:
                        await audit.record(
                            session,
                            action=f"scim{handler.__name__}",
                            who=audit.Who(
                                user_id=actor.user_id,
                                staff_id=actor.staff_id,
                                account_id=actor.account_id,
                                impersonator_user_id=None,
                            ),
                            changes=collected,
                            request_id=getattr(request.state, "request_id", None),
                            client_address=request.client.host if request.client else None,
                        )
                    await session.commit()
                return response

        return run

    async def find(session: AsyncSession, actor: Actor, request: Request):
        raw = request.path_params["id"]
        sid = number_of(raw)
        row = None if sid is None else await provisioning.by_sid(session, actor, sid)
        if row is None:
            raise Refusal(404, f"User {raw} not found.")
        return row

    async def rendered(session: AsyncSession, actor: Actor, request: Request, row) -> dict:
        return (await rendered_all(session, actor, request, [row]))[0]

    async def rendered_all(session: AsyncSession, actor: Actor, request: Request, rows) -> list:
        """Users as SCIM shows them; their managers read in one statement for the page."""
        wanted = list({r.manager_id for r in rows if r.manager_id is not None})
        managers = await staff_service.get_many(session, actor, wanted) if wanted else {}
        shown = []
        for row in rows:
            manager = managers.get(row.manager_id) if row.manager_id is not None else None
            # the latest change to what a User shows: its name card, profile and personal
            # data (emails, phones, addresses), none of its details, SSN or salary
            modified = stamps.latest(row, details=False, personal=True)
            location = f"{base_of(request)}/Users/{row.sid}"
            shown.append(render(row, manager.sid if manager else None, location, modified))
        return shown

    async def manager_id(session: AsyncSession, actor: Actor, value: str | None):
        if not value:
            return None
        sid = number_of(value)
        row = None if sid is None else await provisioning.by_sid(session, actor, sid)
        if row is None:
            raise Refusal(400, f"manager {value!r} is not a User of this account.", "invalidValue")
        return row.id

    async def write(
        session: AsyncSession,
        actor: Actor,
        user: User,
        row,
        *,
        replace: bool,
        before: User | None = None,
    ):
        """Apply ``user`` to ``row`` (None: a new record); returns the record.
        ``before``: the User as a PATCH found it; only what the PATCH changed is written,
        not the whole User as it was read: the record's time of change moves only for the
        class of field changed (``app.staff.stamps``: a viewer's ``modifiedAt`` does not
        move when only personal data changed), and only the fields written are checked."""
        try:
            changes, manager, active = changes_of(user, replace=replace)
            was = changes_of(before, replace=replace) if before is not None else None
        except BadValue as exc:
            raise Refusal(400, str(exc), exc.scim_type) from None
        if not changes.get("email"):
            raise Refusal(400, "userName is required.", "invalidValue")
        if was is not None:
            changes = {k: v for k, v in changes.items() if k not in was[0] or was[0][k] != v}
            manager = None if manager == was[1] else manager
            active = None if active == was[2] else active
        if manager is not None:
            changes["manager_id"] = await manager_id(session, actor, manager)
        if row is not None:
            return await add_staff.update(
                session, actor, settings, services.limiter, row, changes, active
            )
        row = await add_staff.provision(
            session, actor, settings, services.limiter, changes, active=active is not False
        )
        if active is not None:  # created active, it was invited as it was added
            row = await add_staff.set_active(session, actor, settings, row, active, None)
        return row

    # --- discovery ---------------------------------------------------------------------

    async def spc(request: Request, session: AsyncSession, actor: Actor) -> Response:
        return Scim(service_provider_config(base_of(request)))

    async def resource_types(request: Request, session: AsyncSession, actor: Actor) -> Response:
        return Scim(_list([resource_type(base_of(request), name) for name in RESOURCE_TYPES]))

    async def resource_type_one(request: Request, session: AsyncSession, actor: Actor) -> Response:
        if request.path_params["id"] not in RESOURCE_TYPES:
            raise Refusal(404, "No such resource type.")
        return Scim(resource_type(base_of(request), request.path_params["id"]))

    async def schema_list(request: Request, session: AsyncSession, actor: Actor) -> Response:
        return Scim(_list(schemas(base_of(request))))

    async def schema_one(request: Request, session: AsyncSession, actor: Actor) -> Response:
        found = [s for s in schemas(base_of(request)) if s["id"] == request.path_params["id"]]
        if not found:
            raise Refusal(404, "No such schema.")
        return Scim(found[0])

    # --- Users -------------------------------------------------------------------------

    async def users(request: Request, session: AsyncSession, actor: Actor) -> Response:
        params = request.query_params
        return await search(
            request,
            session,
            actor,
            params.get("filter"),
            _int_param(request, "startIndex", 1),
            _int_param(request, "count", MAX_RESULTS),
            params.get("attributes"),
            params.get("excludedAttributes"),
        )

    async def users_search(request: Request, session: AsyncSession, actor: Actor) -> Response:
        body = await _json(request)
        return await search(
            request,
            session,
            actor,
            body.get("filter"),
            _int_of(body.get("startIndex"), "startIndex", 1),
            _int_of(body.get("count"), "count", MAX_RESULTS),
            _names_of(body, "attributes"),
            _names_of(body, "excludedAttributes"),
        )

    async def search(request, session, actor, filter_, start, count, attributes, excluded):
        criteria = _criteria(filter_)
        start = max(1, start)
        count = max(0, min(count, MAX_RESULTS))
        if criteria.pop("none", False):
            return Scim(_list([], 0, start))
        found = await provisioning.find_for_provisioning(
            session, actor, offset=start - 1, limit=count, **criteria
        )
        resources = [
            _shaped(r, attributes, excluded)
            for r in await rendered_all(session, actor, request, found.rows)
        ]
        return Scim(_list(resources, found.total, start))

    def as_asked(request: Request, body: dict, model=User) -> dict:
        """A resource as the request's ``attributes`` / ``excludedAttributes`` ask for it:
        on every operation that answers with one (RFC 7644 §3.9), writes included. Asked
        badly, the request is refused and a write keeps nothing (``endpoint``)."""
        params = request.query_params
        return _shaped(body, params.get("attributes"), params.get("excludedAttributes"), model)

    async def user_get(request: Request, session: AsyncSession, actor: Actor) -> Response:
        row = await find(session, actor, request)
        return Scim(as_asked(request, await rendered(session, actor, request, row)))

    async def Create(request: Request, session: AsyncSession, actor: Actor) -> Response:  # noqa: N802 (the audit log's action name)
        body = with_user_name(await _json(request))
        user = _validated(User, body, Context.RESOURCE_CREATION_REQUEST)
        row = await write(session, actor, user, None, replace=False)
        body = await rendered(session, actor, request, row)
        return Scim(as_asked(request, body), 201, {"Location": body["meta"]["location"]})

    async def Replace(request: Request, session: AsyncSession, actor: Actor) -> Response:  # noqa: N802
        row = await find(session, actor, request)
        body = with_user_name(await _json(request))
        user = _validated(Replacement, body, Context.RESOURCE_REPLACEMENT_REQUEST)
        row = await write(session, actor, user, row, replace=True)
        return Scim(as_asked(request, await rendered(session, actor, request, row)))

    async def Patch(request: Request, session: AsyncSession, actor: Actor) -> Response:  # noqa: N802
        row = await find(session, actor, request)
        raw = await _json(request)
        try:
            body = ignored_operations(email_operations(raw, row.email))
        except BadValue as exc:
            raise Refusal(400, str(exc), exc.scim_type) from None
        if raw.get("Operations") and not body["Operations"] and raw.get("schemas") == [PATCH_OP]:
            # only removals of emails, which leave the login email, and operations on
            # what Roster ignores: no change
            return Scim(as_asked(request, await rendered(session, actor, request, row)))
        if removes_active(body):
            raise Refusal(400, "active cannot be removed: set it to true or false.", "mutability")
        patch = _validated(PatchOp[User], body, Context.RESOURCE_PATCH_REQUEST)
        current = await rendered(session, actor, request, row)
        for email in current.get("emails", []):  # what Entra's paths select on
            email.update(type="work", primary=True)
        before = User.model_validate(copy.deepcopy(current), scim_policy=TOLERANT)
        seed_typed_values(current, body)
        user = User.model_validate(current, scim_policy=TOLERANT)
        try:
            patch.patch(user, scim_policy=TOLERANT)
        except SCIMException as exc:
            raise Refusal(
                400, str(exc), getattr(exc, "scim_type", None) or "invalidValue"
            ) from None
        except (ValidationError, ValueError) as exc:
            raise Refusal(400, str(exc), "invalidValue") from None
        row = await write(session, actor, user, row, replace=True, before=before)
        return Scim(as_asked(request, await rendered(session, actor, request, row)))

    async def Delete(request: Request, session: AsyncSession, actor: Actor) -> Response:  # noqa: N802
        row = await find(session, actor, request)
        await membership.delete(session, actor, row.id)
        return Response(status_code=204)

    # --- Groups (projects) ---------------------------------------------------------------

    async def find_group(session: AsyncSession, actor: Actor, request: Request):
        raw = request.path_params["id"]
        project_id = project_id_of(raw)
        project = (
            await projects.find_project(session, actor, project_id)
            if project_id is not None
            else None
        )
        if project is None:
            raise Refusal(404, f"Group {raw} not found.")
        return project

    async def rendered_groups(
        session: AsyncSession,
        actor: Actor,
        request: Request,
        rows,
        *,
        shown: bool = False,
        asked: tuple[str | None, str | None] | None = None,
    ):
        """Groups as SCIM shows them. ``shown``: an answer to a GET, whose members are read
        only if asked for (``attributes`` / ``excludedAttributes``) and at most
        MAX_MEMBERS_SHOWN of them; otherwise (a write's answer, the state a PATCH applies
        to) all of them. ``asked``: (attributes, excludedAttributes) when not the query's."""
        params = request.query_params
        attributes, excluded = asked or (params.get("attributes"), params.get("excludedAttributes"))
        listed = not shown or _asked_for("members", attributes, excluded)
        members: dict[int, list] = {p.id: [] for p in rows}
        if listed:
            limit = MAX_MEMBERS_SHOWN + 1 if shown else None
            members = await projects.members_of(
                session, actor.account_id, [p.id for p in rows], limit=limit
            )
            if shown and sum(len(m) for m in members.values()) > MAX_MEMBERS_SHOWN:
                raise Refusal(
                    400,
                    f"These Groups have more than {MAX_MEMBERS_SHOWN} members in all: ask with "
                    "excludedAttributes=members, or for fewer Groups (count).",
                    "tooMany",
                )
        return [
            render_group(p, [staff for _, staff in members[p.id]], base_of(request)) for p in rows
        ]

    async def member_ids(session: AsyncSession, actor: Actor, group: Group) -> list[int]:
        """The staff ids of a Group's members (Users of this account, by their SCIM id)."""
        values = [m.value or "" for m in group.members or []]
        numbers = {v: number_of(v) for v in values}
        found = await provisioning.by_sids(
            session, actor, [n for n in numbers.values() if n is not None]
        )
        ids = {v: found[n].id for v, n in numbers.items() if n in found}
        unknown = [v for v in values if v not in ids]
        if unknown:
            raise Refusal(
                400,
                f"members {', '.join(repr(v) for v in unknown)}: not Users of this account "
                "(a Group's members are Users).",
                "invalidValue",
            )
        return [ids[v] for v in values]

    async def groups(request: Request, session: AsyncSession, actor: Actor) -> Response:
        params = request.query_params
        criteria = _criteria(params.get("filter"), GROUP_FILTERABLE, Group)
        start = max(1, _int_param(request, "startIndex", 1))
        count = max(0, min(_int_param(request, "count", MAX_RESULTS), MAX_RESULTS))
        if criteria.pop("none", False):
            return Scim(_list([], 0, start))
        found = await projects.find_projects(
            session, actor, offset=start - 1, limit=count, **criteria
        )
        resources = [
            _shaped(g, params.get("attributes"), params.get("excludedAttributes"), Group)
            for g in await rendered_groups(session, actor, request, found.rows, shown=True)
        ]
        return Scim(_list(resources, found.total, start))

    async def group_get(request: Request, session: AsyncSession, actor: Actor) -> Response:
        project = await find_group(session, actor, request)
        [body] = await rendered_groups(session, actor, request, [project], shown=True)
        return Scim(as_asked(request, body, Group))

    async def GroupCreate(request: Request, session: AsyncSession, actor: Actor) -> Response:  # noqa: N802 (the audit log's action name)
        group = _validated(Group, await _json(request), Context.RESOURCE_CREATION_REQUEST)
        project = await projects.create_project(
            session,
            actor,
            name=group.display_name or "",
            description=None,
            member_ids=await member_ids(session, actor, group),
            external_id=group.external_id,
            with_administrators=False,
        )
        [body] = await rendered_groups(session, actor, request, [project])
        return Scim(as_asked(request, body, Group), 201, {"Location": body["meta"]["location"]})

    async def apply_group(session, actor, request, project, group: Group) -> Response:
        """Make ``project`` what ``group`` says (name, externalId, exactly its members)."""
        project = await projects.update_project(
            session,
            actor,
            project.id,
            name=group.display_name or "",
            external_id=group.external_id,
        )
        project = await projects.set_members(
            session, actor, project.id, await member_ids(session, actor, group)
        )
        [body] = await rendered_groups(session, actor, request, [project])
        return Scim(as_asked(request, body, Group))

    async def GroupReplace(request: Request, session: AsyncSession, actor: Actor) -> Response:  # noqa: N802
        project = await find_group(session, actor, request)
        group = _validated(Group, await _json(request), Context.RESOURCE_REPLACEMENT_REQUEST)
        return await apply_group(session, actor, request, project, group)

    async def GroupPatch(request: Request, session: AsyncSession, actor: Actor) -> Response:  # noqa: N802
        project = await find_group(session, actor, request)
        try:
            body = member_operations(await _json(request))
        except BadValue as exc:
            raise Refusal(400, str(exc), exc.scim_type) from None
        patch = _validated(PatchOp[Group], body, Context.RESOURCE_PATCH_REQUEST)
        # The members are read, changed and written back whole: under the project's lock,
        # so two PATCHes at once (one adding, one removing) do not undo each other.
        await projects.lock_project(session, actor, project.id)
        [current] = await rendered_groups(session, actor, request, [project])
        group = Group.model_validate(current, scim_policy=TOLERANT)
        try:
            patch.patch(group, scim_policy=TOLERANT)
        except SCIMException as exc:
            raise Refusal(
                400, str(exc), getattr(exc, "scim_type", None) or "invalidValue"
            ) from None
        except (ValidationError, ValueError) as exc:
            raise Refusal(400, str(exc), "invalidValue") from None
        return await apply_group(session, actor, request, project, group)

    async def GroupDelete(request: Request, session: AsyncSession, actor: Actor) -> Response:  # noqa: N802
        project = await find_group(session, actor, request)
        await projects.delete_project(session, actor, project.id)
        return Response(status_code=204)

    async def root_search(request: Request, session: AsyncSession, actor: Actor) -> Response:
        """POST /.search (RFC 7644 §3.4.3): Users, then Groups, paged as one list. A
        filter applies to the resource types whose attributes it names."""
        body = await _json(request)
        attributes, excluded = _names_of(body, "attributes"), _names_of(body, "excludedAttributes")
        start = max(1, _int_of(body.get("startIndex"), "startIndex", 1))
        count = max(0, min(_int_of(body.get("count"), "count", MAX_RESULTS), MAX_RESULTS))
        text = body.get("filter")
        kinds: list[tuple[type[User] | type[Group], dict]] = []
        refusals = []
        choices: tuple[tuple[type[User] | type[Group], dict[str, str]], ...] = (
            (User, FILTERABLE),
            (Group, GROUP_FILTERABLE),
        )
        for resource, filterable in choices:
            try:
                kinds.append((resource, _criteria(text, filterable, resource)))
            except Refusal as refusal:
                refusals.append(refusal)
        if not kinds:
            raise refusals[0]
        offset, total = start - 1, 0
        resources: list[dict] = []
        for resource, criteria in kinds:
            if criteria.pop("none", False):
                continue
            wanted = count - len(resources)
            if resource is User:
                users = await provisioning.find_for_provisioning(
                    session, actor, offset=offset, limit=wanted, **criteria
                )
                found = users.total
                shown = await rendered_all(session, actor, request, users.rows)
            else:
                projects_found = await projects.find_projects(
                    session, actor, offset=offset, limit=wanted, **criteria
                )
                found = projects_found.total
                shown = await rendered_groups(
                    session,
                    actor,
                    request,
                    projects_found.rows,
                    shown=True,
                    asked=(attributes, excluded),
                )
            resources += [_shaped(r, attributes, excluded, resource) for r in shown]
            total += found
            offset = max(0, offset - found)
        return Scim(_list(resources, total, start))

    async def not_implemented(request: Request, session, actor) -> Response:
        """RFC 7644 3.11 and 3.12: /Me (a key is nobody's own session) and /Bulk (the
        ServiceProviderConfig says it is not supported) are not implemented."""
        raise Refusal(501, f"{request.url.path.rsplit('/', 1)[-1]} is not supported by Roster.")

    async def not_found(request: Request) -> Response:
        """Any other path or method under the prefix (OPTIONS and HEAD too), as a SCIM
        Error: 405 for a path served with other methods, which Allow names, else 404."""
        allowed = sorted(
            {
                method
                for route in served
                if route.matches(request.scope)[0] is not Match.NONE
                for method in route.methods or ()
            }
        )
        if not allowed:
            return Refusal(404, "Not found.").response()
        refused = Refusal(405, f"{request.method} is not supported here.").response()
        refused.headers["Allow"] = ", ".join(allowed)
        return refused

    served = [
        Route(f"{PREFIX}/ServiceProviderConfig", endpoint(spc), methods=["GET"]),
        Route(f"{PREFIX}/ResourceTypes", endpoint(resource_types), methods=["GET"]),
        Route(f"{PREFIX}/ResourceTypes/{{id}}", endpoint(resource_type_one), methods=["GET"]),
        Route(f"{PREFIX}/Schemas", endpoint(schema_list), methods=["GET"]),
        Route(f"{PREFIX}/Schemas/{{id}}", endpoint(schema_one), methods=["GET"]),
        Route(f"{PREFIX}/Users", endpoint(users), methods=["GET"]),
        Route(f"{PREFIX}/Users", endpoint(Create, write=True), methods=["POST"]),
        Route(f"{PREFIX}/Users/.search", endpoint(users_search), methods=["POST"]),
        Route(f"{PREFIX}/.search", endpoint(root_search), methods=["POST"]),
        Route(f"{PREFIX}/Users/{{id}}", endpoint(user_get), methods=["GET"]),
        Route(f"{PREFIX}/Users/{{id}}", endpoint(Replace, write=True), methods=["PUT"]),
        Route(f"{PREFIX}/Users/{{id}}", endpoint(Patch, write=True), methods=["PATCH"]),
        Route(f"{PREFIX}/Users/{{id}}", endpoint(Delete, write=True), methods=["DELETE"]),
        Route(f"{PREFIX}/Groups", endpoint(groups), methods=["GET"]),
        Route(f"{PREFIX}/Groups", endpoint(GroupCreate, write=True), methods=["POST"]),
        Route(f"{PREFIX}/Groups/{{id}}", endpoint(group_get), methods=["GET"]),
        Route(f"{PREFIX}/Groups/{{id}}", endpoint(GroupReplace, write=True), methods=["PUT"]),
        Route(f"{PREFIX}/Groups/{{id}}", endpoint(GroupPatch, write=True), methods=["PATCH"]),
        Route(f"{PREFIX}/Groups/{{id}}", endpoint(GroupDelete, write=True), methods=["DELETE"]),
        Route(
            f"{PREFIX}/Me",
            endpoint(not_implemented),
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        ),
        Route(f"{PREFIX}/Bulk", endpoint(not_implemented), methods=["POST"]),
    ]
    return [*served, Route(f"{PREFIX}/{{rest:path}}", not_found, methods=EVERY_METHOD)]
