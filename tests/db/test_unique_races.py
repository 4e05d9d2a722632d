"""Races on unique keys: identical creates fired at once through the app (asyncio.gather).

Each request checks that the name or email is free, then writes it. On PostgreSQL they all
check before any commits, so all but one meet the unique constraint at the write; that
refusal must be the same typed "taken" answer the check gives (a TAKEN userError, SCIM's
409 uniqueness, REST's 400), never an internal error, and exactly one create wins. On
SQLite the writer lock serialises the requests, so the check answers every loser there.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.access.scopes import Scope
from app.custom_fields.errors import FieldNameTaken
from app.db.unique import claim
from app.projects.models import Project
from app.staff.models import Staff, StaffStatus
from tests.factories import make_api_token, make_tenant
from tests.scim.helpers import GROUP, GROUP_SCOPES, user_body

N = 10

STAFF_CREATE = """mutation($email: String!) {
  staffCreate(input: {email: $email, firstName: "Uma", lastName: "Same"}) {
    staff { id } userErrors { field code } } }"""
FIELD_CREATE = """mutation($name: String!) {
  customFieldCreate(input: {name: $name, type: TEXT}) {
    customField { id } userErrors { field code } } }"""
PROJECT_CREATE = """mutation($name: String!) {
  projectCreate(input: {name: $name}) { project { id } userErrors { field code } } }"""
STATUS_CREATE = """mutation($name: String!) {
  staffStatusCreate(input: {name: $name}) { status { id } userErrors { field code } } }"""


def outcomes(bodies: list[dict], field: str) -> Counter:
    """How many calls succeeded ("OK") and how many got each userError code; a
    top-level error (INTERNAL_SERVER_ERROR) fails here."""
    counts: Counter = Counter()
    for body in bodies:
        assert not body.get("errors"), body["errors"]
        errors = body["data"][field]["userErrors"]
        counts["OK" if not errors else "+".join(sorted({e["code"] for e in errors}))] += 1
    return counts


async def count(services, statement) -> int:
    async with services.db.session() as session:
        return await session.scalar(statement)


@pytest.mark.parametrize(
    ("query", "field", "variables", "model", "where"),
    [
        (STAFF_CREATE, "staffCreate", {"email": "same@example.com"}, Staff,
         Staff.email == "same@example.com"),
        (FIELD_CREATE, "customFieldCreate", {"name": "Shirt size"}, None, None),
        (PROJECT_CREATE, "projectCreate", {"name": "Apollo"}, Project, Project.name == "Apollo"),
        (STATUS_CREATE, "staffStatusCreate", {"name": "On leave"}, StaffStatus,
         StaffStatus.name == "On leave"),
    ],
    ids=["staffCreate", "customFieldCreate", "projectCreate", "staffStatusCreate"],
)
async def test_identical_graphql_creates_at_once_make_one_and_answer_taken(
    api, services, query, field, variables, model, where
):
    tenant = await make_tenant(services)

    bodies = await asyncio.gather(*(api(query, variables, as_=tenant.owner) for _ in range(N)))

    assert outcomes(bodies, field) == {"OK": 1, "TAKEN": N - 1}
    # every loser got the answer the check gives once the winner is committed
    sequential = await api(query, variables, as_=tenant.owner)
    assert outcomes([sequential], field) == {"TAKEN": 1}
    refused = sequential["data"][field]["userErrors"]
    assert [b["data"][field]["userErrors"] for b in bodies].count(refused) == N - 1
    if model is not None:
        made = select(func.count()).select_from(model).where(where)
        assert await count(services, made.where(model.account_id == tenant.account_id)) == 1


RENAME_FIELD = """mutation($id: ID!) {
  customFieldUpdate(input: {id: $id, name: "Same"}) { userErrors { code } } }"""


async def test_fields_renamed_to_one_name_at_once(api, services):
    tenant = await make_tenant(services)
    ids = []
    for name in (f"Field {i}" for i in range(N)):
        body = await api(FIELD_CREATE, {"name": name}, as_=tenant.owner)
        ids.append(body["data"]["customFieldCreate"]["customField"]["id"])

    bodies = await asyncio.gather(*(api(RENAME_FIELD, {"id": i}, as_=tenant.owner) for i in ids))

    assert outcomes(bodies, "customFieldUpdate") == {"OK": 1, "TAKEN": N - 1}


# --- SCIM and REST --------------------------------------------------------------------------


async def scim_posts(client, services, path: str, bodies: list[dict], scopes) -> Counter:
    tenant = await make_tenant(services)
    key = await make_api_token(services, tenant, tenant.owner, scopes=list(scopes))
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/scim+json"}
    answers = await asyncio.gather(
        *(client.post(f"/scim/v2{path}", json=body, headers=headers) for body in bodies)
    )
    for answer in answers:
        if answer.status_code != 201:
            assert answer.json()["scimType"] == "uniqueness", answer.text
    return Counter(a.status_code for a in answers)


async def test_scim_users_with_one_user_name_at_once(client, services):
    bodies = [user_body("same@example.com")] * N
    assert await scim_posts(client, services, "/Users", bodies, [Scope.SCIM]) == {
        201: 1,
        409: N - 1,
    }


async def test_scim_users_with_one_external_id_at_once(client, services):
    bodies = [user_body(f"person{i}@example.com", externalId="okta-1") for i in range(N)]
    assert await scim_posts(client, services, "/Users", bodies, [Scope.SCIM]) == {
        201: 1,
        409: N - 1,
    }


async def test_scim_groups_with_one_display_name_at_once(client, services):
    bodies = [{"schemas": [GROUP], "displayName": "Apollo"}] * N
    assert await scim_posts(client, services, "/Groups", bodies, GROUP_SCOPES) == {
        201: 1,
        409: N - 1,
    }


async def test_rest_staff_add_with_one_email_at_once(client, services):
    tenant = await make_tenant(services)
    headers = {"X-Auth-Token": tenant.owner.token, "X-Auth-Realm": tenant.owner.realm}
    body = {"FName": "Rae", "SName": "Same", "EMail": "same@example.com"}

    answers = await asyncio.gather(
        *(client.post("/api/v2/staff/add", json=body, headers=headers) for _ in range(N))
    )

    assert Counter(a.status_code for a in answers) == {200: 1, 400: N - 1}
    sequential = await client.post("/api/v2/staff/add", json=body, headers=headers)
    assert sequential.status_code == 400
    for answer in answers:
        if answer.status_code == 400:
            assert answer.json() == sequential.json()
    made = select(func.count()).select_from(Staff).where(Staff.email == "same@example.com")
    assert await count(services, made) == 1


# --- the helper -----------------------------------------------------------------------------


async def test_claim_translates_only_the_constraints_it_is_given(services):
    tenant = await make_tenant(services)
    async with services.db.session(write=True) as session:
        session.add(StaffStatus(account_id=tenant.account_id, name="A", name_key="a"))
        await session.flush()
        taken = {"uq_staff_statuses_account_id_name_key": FieldNameTaken}
        with pytest.raises(FieldNameTaken):
            async with claim(session, taken):
                session.add(StaffStatus(account_id=tenant.account_id, name="A", name_key="a"))
        # another constraint's refusal is no "taken": it is raised as it came
        with pytest.raises(IntegrityError):
            async with claim(session, {"uq_custom_fields_account_id_name_key": FieldNameTaken}):
                session.add(StaffStatus(account_id=tenant.account_id, name="A", name_key="a"))
        # the savepoints were rolled back: the transaction goes on and commits
        session.add(StaffStatus(account_id=tenant.account_id, name="B", name_key="b"))
        await session.commit()
    names = select(StaffStatus.name).where(StaffStatus.account_id == tenant.account_id)
    async with services.db.session() as session:
        assert sorted(await session.scalars(names)) == ["A", "B"]


async def test_claim_refuses_a_constraint_the_models_do_not_declare(services):
    async with services.db.session() as session:
        with pytest.raises(KeyError):
            async with claim(session, {"uq_no_such_constraint": FieldNameTaken}):
                pass
