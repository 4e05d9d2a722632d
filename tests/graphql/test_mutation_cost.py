"""A mutation's answer is priced by what its lists may hold once its work is done: a
project made with every record as a member, in an account whose projects had none, is
not priced as an empty project (found in review: one owner built 25 million objects)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.accounts.sizes import Size
from app.graphql.limits import GROWN_BY, root_fields
from app.projects.models import Project
from tests.conftest import make_settings
from tests.factories import gid, insert_staff_rows, make_tenant

LIMIT = 2_000
MEMBERS = 60  # a project of 60 whose members list its 60 members again: 3,600 objects

NESTED = """mutation($ids: [ID!]) {
  projectCreate(input: {name: "Everyone", memberIds: $ids}) {
    project { members { staff { projects { project { members { staff { id } } } } } } }
    userErrors { code }
  }
}"""
FLAT = """mutation($ids: [ID!]) {
  projectCreate(input: {name: "Everyone", memberIds: $ids}) {
    project { members { staff { id } } }
    userErrors { code }
  }
}"""


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, max_query_cost=LIMIT)


async def _everyone(services, tenant) -> list[str]:
    ids = await insert_staff_rows(
        services,
        tenant,
        [dict(first_name=f"F{i}", last_name=f"L{i}") for i in range(MEMBERS - 1)],
    )
    assert len(ids) == MEMBERS - 1
    from app.staff.models import Staff

    async with services.db.session() as session:
        # in the order they were made: the owner first (a read without an order is in any)
        pks = await session.scalars(
            select(Staff.id).where(Staff.account_id == tenant.account_id).order_by(Staff.id)
        )
        return [gid("Staff", pk) for pk in pks]


async def _projects(services) -> int:
    async with services.db.session() as session:
        return await session.scalar(select(func.count()).select_from(Project))


async def test_a_nested_answer_over_what_the_mutation_makes_is_refused_before_it_runs(
    api, services
):
    tenant = await make_tenant(services, seats=100)
    everyone = await _everyone(services, tenant)
    body = await api(NESTED, {"ids": everyone}, as_=tenant.owner)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "too large" in error["message"]
    assert await _projects(services) == 0  # refused before anything ran

    flat = await api.data(FLAT, {"ids": everyone}, as_=tenant.owner)
    assert flat["projectCreate"]["userErrors"] == []
    assert len(flat["projectCreate"]["project"]["members"]) == MEMBERS


def test_root_fields_count_through_fragments():
    from graphql import parse

    document = parse(
        'mutation M { a: projectCreate(input: {name: "a"}) { userErrors { code } } '
        '...More ... on Mutation { c: projectCreate(input: {name: "c"}) { __typename } } } '
        'fragment More on Mutation { b: projectCreate(input: {name: "b"}) { __typename } '
        "...More }"
    )
    assert [f.name.value for f in root_fields(document, "M")] == ["projectCreate"] * 3


def test_what_mutations_grow_names_mutations_and_sizes_priced_per_record():
    """Every entry is a mutation of the schema, and grows a list priced per record or
    project (what an account-wide count already bounds needs no entry)."""
    from app.graphql.limits import LIST_BOUNDS
    from app.graphql.schema import build_schema

    mutations = build_schema()._schema.mutation_type.fields
    per_parent = {
        bound.size
        for (parent, _), bound in LIST_BOUNDS.items()
        if parent not in ("Query", "Viewer") and getattr(bound, "size", None) is not None
    }
    for name, grows in GROWN_BY.items():
        assert name in mutations, name
        assert set(grows) <= per_parent, (name, grows)
    assert {Size.MEMBERS_PER_PROJECT, Size.SHARES_PER_STAFF} <= per_parent


async def test_a_nested_answer_over_the_members_given_is_priced_by_them(api, services):
    """The same answer, for a project made with two members (and the owner, who joins every
    project made), costs what those few make: it runs."""
    tenant = await make_tenant(services, seats=100)
    everyone = await _everyone(services, tenant)
    body = await api.data(NESTED, {"ids": everyone[1:3]}, as_=tenant.owner)
    assert body["projectCreate"]["userErrors"] == []
    assert len(body["projectCreate"]["project"]["members"]) == 3


async def test_a_project_made_without_members_is_priced_by_its_administrators(api, services):
    tenant = await make_tenant(services, seats=100)
    await _everyone(services, tenant)
    document = NESTED.replace("($ids: [ID!])", "").replace(", memberIds: $ids", "")
    body = await api.data(document, as_=tenant.owner)
    assert body["projectCreate"]["userErrors"] == []
    assert len(body["projectCreate"]["project"]["members"]) == 1  # the owner
