"""One request must not stall the server: every list is priced by what it can really
return, the limit is checked with the account's sizes before anything runs, and a request
that does run long gives the event loop back (other requests, /healthz and its own time
limit keep working)."""

from __future__ import annotations

import asyncio
import time
from zoneinfo import available_timezones

import httpx
import pytest
from sqlalchemy import insert, select

from app.access import Permit, Role
from app.custom_fields.models import CustomField, CustomFieldType, CustomFieldValue
from app.graphql.limits import LIST_BOUNDS, missing_bounds
from app.graphql.schema import build_schema
from app.main import Services, create_app
from app.projects.models import Project, ProjectMember
from app.staff.models import Staff, StaffKind
from app.validation import name_key
from bench.queries import PAGE_QUERY
from tests.conftest import make_settings
from tests.factories import (
    error_codes,
    gid,
    insert_staff_rows,
    make_member,
    make_tenant,
)
from tests.security.live import live_server

STAFF = 1200
PROJECTS = 30
PROJECTS_EACH = 3  # each staff member is on 3 projects: 120 members a project

ISSUE = (
    '{ customFieldValues(names: ["Shirt size"]) '
    "{ staff { projects { project { members { staff { fullName } } } } } } }"
)


async def _large_account(services, tenant) -> list[int]:
    """STAFF records, PROJECTS projects of STAFF * PROJECTS_EACH / PROJECTS members, and a
    "Shirt size" value for everyone: bulk inserts. Returns the staff ids."""
    await insert_staff_rows(
        services,
        tenant,
        [{"first_name": f"P{i}", "last_name": f"Person{i:05d}"} for i in range(STAFF)],
    )
    async with services.db.session(write=True) as session:
        ids = list(
            (
                await session.scalars(
                    select(Staff.id).where(Staff.account_id == tenant.account_id).order_by(Staff.id)
                )
            ).all()
        )
        await session.execute(
            insert(Project),
            [
                {
                    "account_id": tenant.account_id,
                    "name": f"Project {p}",
                    "name_key": f"project {p}",
                }
                for p in range(PROJECTS)
            ],
        )
        projects = list(
            (
                await session.scalars(
                    select(Project.id).where(Project.account_id == tenant.account_id)
                )
            ).all()
        )
        await session.execute(
            insert(ProjectMember),
            [
                {
                    "project_id": projects[(i + k * 7) % PROJECTS],
                    "staff_id": staff_id,
                    "account_id": tenant.account_id,
                }
                for i, staff_id in enumerate(ids)
                for k in range(PROJECTS_EACH)
            ],
        )
        field = CustomField(
            account_id=tenant.account_id,
            name="Shirt size",
            name_key=name_key("Shirt size"),
            type=CustomFieldType.TEXT,
        )
        session.add(field)
        await session.flush()
        await session.execute(
            insert(CustomFieldValue),
            [
                {"staff_id": s, "field_id": field.id, "account_id": tenant.account_id, "value": "M"}
                for s in ids
            ],
        )
        await session.commit()
    return ids


def _refused(body: dict) -> bool:
    return (
        body.get("data") is None
        and error_codes(body) == ["BAD_USER_INPUT"]
        and "too large" in body["errors"][0]["message"]
    )


# --- every list has a declared bound -------------------------------------------------------


def test_every_list_field_of_the_schema_has_a_declared_bound():
    schema = build_schema()._schema
    assert missing_bounds(schema) == []
    for type_name, field_name in LIST_BOUNDS:  # and no bound is left for a field gone
        assert field_name in schema.type_map[type_name].fields, (type_name, field_name)
    from app.graphql import limits

    assert len(Permit) <= limits._PERMITS
    assert len(Role) <= limits._ROLES
    assert len(StaffKind) <= limits._STAFF_KINDS
    assert len(available_timezones()) <= limits._TIME_ZONES


def test_a_list_field_without_a_bound_fails_the_schema(monkeypatch):
    monkeypatch.delitem(LIST_BOUNDS, ("Project", "members"))
    with pytest.raises(RuntimeError, match="Project.members"):
        build_schema()


# --- the worst documents, against a large account ------------------------------------------

FRAGMENTS = (
    "fragment S on Staff { fullName projects { project { members { staff { fullName } } } } }"
)
WORST = {
    "the issue's document": ISSUE,
    "projects, members, projects, members": (
        "{ projects { members { staff { projects { project { members { staff { id } } } } } } } }"
    ),
    "a page of staff with their projects' members": (
        "{ staff(first: 100) { nodes { manager { manager { fullName } } "
        "projects { project { members { staff { fullName } } } } } } }"
    ),
    "aliases and fragments": (
        "{ a: customFieldValues { staff { ...S } } b: customFieldValues { staff { ...S } } "
        "c: projects { members { staff { ...S } } } } " + FRAGMENTS
    ),
    "through node and an inline fragment": (
        '{ node(id: "PROJECT") { ... on Project { members { staff { '
        "projects { project { members { staff { ...S } } } } } } } } } " + FRAGMENTS
    ),
    "through the viewer": (
        "{ viewer { staff { projects { project { members { staff { ...S } } } } } } } " + FRAGMENTS
    ),
    "a page size as a variable": (
        "query($n: Int!) { staff(first: $n) { edges { node { ...S } } } } " + FRAGMENTS
    ),
    "custom values with their staff's custom fields": (
        "{ customFieldValues { value staff { customFields { value field { options } } "
        "sharedWith { fullName } } } }"
    ),
}
# Within the limit on this account (one field, no shares): they run, and quickly.
RUNS = {"custom values with their staff's custom fields"}
# Documents clients send on such an account: still answered.
NORMAL = {
    "the staff page": (PAGE_QUERY, {"first": 100}),
    "projects and their members": (
        "{ projects { id name members { staff { id fullName } } } }",
        {},
    ),
    "one field's values": (
        '{ customFieldValues(names: ["Shirt size"]) { value staff { id fullName } } }',
        {},
    ),
    "a page with projects": (
        "{ staff(first: 20) { nodes { fullName projects { project { name } } } } }",
        {},
    ),
}


async def test_the_worst_documents_are_refused_before_they_run_on_a_large_account(services, api):
    tenant = await make_tenant(services, seats=STAFF + 10)
    await _large_account(services, tenant)
    viewer = await make_member(services, tenant, Role.VIEWER)
    async with services.db.session() as session:
        project = await session.scalar(
            select(Project.id).where(Project.account_id == tenant.account_id).limit(1)
        )
    for name, document in WORST.items():
        document = document.replace("PROJECT", gid("Project", project))
        started = time.perf_counter()
        body = await api(document, {"n": 100}, as_=viewer)
        elapsed = time.perf_counter() - started
        if name in RUNS:
            assert not body.get("errors") and elapsed < 5, (name, elapsed, body.get("errors"))
            continue
        assert _refused(body), (name, str(body)[:300])
        assert "with this account's data it costs" in body["errors"][0]["message"], name
    for name, (document, variables) in NORMAL.items():
        body = await api(document, variables, as_=viewer)
        assert not body.get("errors"), (name, body["errors"])


async def test_the_same_document_runs_on_a_small_account(services, api):
    """The price follows the account's data: on an account without projects and values,
    the issue's document costs almost nothing."""
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    body = await api(ISSUE, as_=viewer)
    assert body == {"data": {"customFieldValues": []}}


# --- a heavy request, let through, shares the server and is cut off in time ----------------

HEAVY_QUERY = ISSUE
HEAVY_MUTATION = (
    'mutation($id: ID!) { staffUpdate(input: {id: $id, title: "Changed"}) { staff { '
    "projects { project { members { staff { projects { project { members { staff { "
    "fullName } } } } } } } } } } }"
)
OTHER = "{ staff(first: 5) { nodes { fullName } } }"


@pytest.fixture
async def loose_server(database_url):
    """A real server whose cost limit lets heavy documents run, with a short time limit."""
    settings = make_settings(
        database_url, max_query_cost=10**9, request_timeout_seconds=1.5, hot_paths=True
    )
    services = Services.from_settings(settings)
    app = create_app(settings, services=services)
    async with live_server(app) as base:
        yield services, base
    await services.close()


async def _post(client, query, variables, member) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm},
    )
    return response, time.perf_counter() - started


async def test_a_heavy_request_leaves_the_server_answering_and_is_cut_off(loose_server):
    services, base = loose_server
    tenant = await make_tenant(services, seats=STAFF + 10)
    ids = await _large_account(services, tenant)
    other = await make_tenant(services)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for query, variables in (
            (HEAVY_QUERY, {}),
            (HEAVY_MUTATION, {"id": gid("Staff", ids[0])}),
        ):
            heavy = asyncio.create_task(_post(client, query, variables, tenant.owner))
            await asyncio.sleep(0.3)  # well into it
            waits = []
            while not heavy.done():
                started = time.perf_counter()
                health = await client.get("/healthz")
                waits.append(("healthz", time.perf_counter() - started))
                assert health.json() == {"status": "ok"}
                response, elapsed = await _post(client, OTHER, {}, other.owner)
                waits.append(("other account", elapsed))
                assert response.json()["data"]["staff"]["nodes"], response.json()
                await asyncio.sleep(0.05)
            response, elapsed = await heavy
            assert waits, "the heavy request ended before anything was measured"
            assert max(w for _, w in waits) < 1.0, waits
            body = response.json()
            assert body["data"] is None, str(body)[:300]
            assert body["errors"] == [
                {
                    "message": "The request took too long.",
                    "extensions": {
                        "code": "INTERNAL_SERVER_ERROR",
                        "requestId": response.headers["x-request-id"],
                    },
                }
            ]
            assert elapsed < 1.5 + 1.0, elapsed  # cut off at its time limit, not much later
    async with services.db.session() as session:
        assert await session.scalar(select(Staff.title).where(Staff.id == ids[0])) is None
