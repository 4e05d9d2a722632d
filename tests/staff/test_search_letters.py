"""Searching and filtering by letters beyond ASCII: a word is lower-cased by the database,
as the fields it is compared with are. Python's case fold is not the database's lower()
("ß" is "ss" to it), and SQLite's lower() folds ASCII alone, so a word lower-cased in
Python found nothing where a field held "ß", or (SQLite) a capital beyond ASCII: "Élodie"
typed as stored did not find "Élodie"."""

from __future__ import annotations

import pytest

from app.access import Role
from app.staff.queries import StaffFilter, StaffQuery
from app.staff.service import count_staff, list_staff
from tests.factories import make_member
from tests.staff.test_search_index import actor_of, by_every_route, world  # noqa: F401

PEOPLE = [
    ("Élodie", "Straße", "Ingénieure", "Société Générale"),
    ("Łukasz", "Ωmega", "ΣΟΦΟΣ", "Çelik"),
    ("Ömer", "Åsa", "Dreß", "ÆØÅ"),
]


async def found(services, actor, query: StaffQuery) -> tuple[list[str], int]:
    async with services.db.session() as session:
        page = await list_staff(session, actor, query)
        total = await count_staff(session, actor, query)
    names = [r.last_name for r in page.rows]
    # every route the query may take reads the same rows (SQLite's indexes, a walk)
    for route, (other, count) in (await by_every_route(services, actor, query)).items():
        assert (other, count) == (names, total), (route, query)
    return names, total


@pytest.fixture
async def people(services, world):  # noqa: F811
    for first, last, title, company in PEOPLE:
        await make_member(services, world.tenant, Role.VIEWER, first_name=first,
                          last_name=last, title=title, company=company)
    return await actor_of(services, world.members["owner"])


@pytest.mark.parametrize("first, last, title, company", PEOPLE)
async def test_a_word_as_stored_finds_its_record(services, people, first, last, title, company):
    for value in (first, last, title, company):
        for word in value.split():
            names, total = await found(services, people, StaffQuery(search=word))
            assert last in names and total == len(names), (word, names)
    names, _ = await found(services, people, StaffQuery(filter=StaffFilter(company=company)))
    assert names == [last]


async def test_postgresql_finds_any_case_of_a_word(services, people, backend):
    if backend != "postgresql":
        pytest.skip("SQLite's lower() folds ASCII alone (the README's search notes)")
    for word, last in (("élodie", "Straße"), ("STRAẞE", "Straße"), ("straße", "Straße"),
                       ("σοφ", "Ωmega"), ("łukasz", "Ωmega"), ("dreß", "Åsa")):
        names, _ = await found(services, people, StaffQuery(search=word))
        assert names == [last], (word, names)
    names, _ = await found(services, people, StaffQuery(filter=StaffFilter(company="çelik")))
    assert names == ["Ωmega"]
