"""Searching and filtering by letters beyond ASCII: a word is lower-cased by the database,
as the fields it is compared with are. Python's case fold is not the database's lower()
("ß" is "ss" to it), and SQLite's lower() folds ASCII alone, so a word lower-cased in
Python found nothing where a field held "ß", or (SQLite) a capital beyond ASCII: "Élodie"
typed as stored did not find "Élodie". On SQLite a word beyond ASCII is now compared with
every letter lowered (``app.db.text_case``): "élodie" finds "Élodie" on both databases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.access import Role
from app.db.text_case import lower
from app.staff.queries import StaffFilter, StaffQuery
from app.staff.service import count_staff, list_staff
from tests.factories import insert_staff_rows, make_member
from tests.staff.test_search_index import (  # noqa: F401
    actor_of,
    by_every_route,
    forget_records,
    world,
)

PEOPLE = [
    ("Élodie", "Straße", "Ingénieure", "Société Générale"),
    ("Łukasz", "Ωmega", "ΣΟΦΟΣ", "Çelik"),
    ("Ömer", "Åsa", "Dreß", "ÆØÅ"),
    ("Νίκος", "Παππάς", "Μηχανικός", "ΕΛΛΗΝΙΚΑ ΠΕΤΡΕΛΑΙΑ"),
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


async def test_any_case_of_a_word_finds_its_record(services, people, backend):
    for word, last in (("élodie", "Straße"), ("ÉLODIE", "Straße"), ("STRAẞE", "Straße"),
                       ("straße", "Straße"), ("σοφ", "Ωmega"), ("łukasz", "Ωmega"),
                       ("ŁUKASZ", "Ωmega"), ("dreß", "Åsa"), ("ömer", "Åsa"), ("çelik", "Ωmega"),
                       ("générale", "Straße"), ("æøå", "Åsa"), ("ingénieure", "Straße"),
                       # short words: the short-word index, then the LIKE conditions
                       ("öm", "Åsa"), ("Ö", "Åsa"), ("ł", "Ωmega"), ("ŁU", "Ωmega"),
                       ("ωm", "Ωmega"), ("é", "Straße"), ("ø", "Åsa"), ("ß", None)):
        names, total = await found(services, people, StaffQuery(search=word))
        if last is None:
            assert sorted(names) == ["Straße", "Åsa"] and total == 2, (word, names)
        else:
            assert names == [last] and total == 1, (word, names)
    # two words, one of them ASCII
    names, _ = await found(services, people, StaffQuery(search="élodie strasse"))
    assert names == []
    names, _ = await found(services, people, StaffQuery(search="Élodie ingÉnieure GÉN"))
    assert names == ["Straße"]
    # the company filter, in any case: on SQLite by the forms its lower() may have stored
    # ("société générale": 16 of them), or past 64 by every letter lowered (the Greek one)
    for company, last in (("çelik", "Ωmega"), ("ÇELIK", "Ωmega"), ("société générale", "Straße"),
                          ("SOCIÉTÉ GÉNÉRALE", "Straße"), ("æøå", "Åsa"), ("ÆøÅ", "Åsa"),
                          ("ελληνικα πετρελαια", "Παππάς"), ("Ελληνικα ΠΕΤΡΕΛΑΙΑ", "Παππάς"),
                          ("société", None), ("ελληνικα", None)):
        query = StaffQuery(filter=StaffFilter(company=company))
        names, total = await found(services, people, query)
        assert names == ([last] if last else []) and total == len(names), (company, names)


async def test_letters_python_lowers_by_their_place(services, world):  # noqa: F811
    """A capital sigma lowered with no letter after it ("ΚΩΣ", or "%ΚΩΣ%" as a pattern),
    which Python's str.lower() makes a final "ς"; "İ", which it lowers to two characters;
    "ẞ", whose upper case is "SS": each found by every route, as on PostgreSQL."""
    for first, last, title, company in (("ΚΩΣΤΑΣ", "ΟΔΟΣ", "İşte", "GROẞ"),
                                        ("İzmir", "Ana", None, None)):
        await make_member(services, world.tenant, Role.VIEWER, first_name=first,
                          last_name=last, title=title, company=company)
    owner = await actor_of(services, world.members["owner"])
    for word, expected in (("ΚΩΣ", ["ΟΔΟΣ"]), ("κωσ", ["ΟΔΟΣ"]), ("ΟΔΟΣ", ["ΟΔΟΣ"]),
                           ("Σ", ["ΟΔΟΣ"]), ("ΤΑΣ", ["ΟΔΟΣ"]), ("İzmir", ["Ana"]),
                           ("İş", ["ΟΔΟΣ"]), ("İşTE", ["ΟΔΟΣ"]), ("ẞ", ["ΟΔΟΣ"]),
                           ("oẞ", ["ΟΔΟΣ"]), ("groß", ["ΟΔΟΣ"])):
        names, total = await found(services, owner, StaffQuery(search=word))
        assert names == expected and total == len(expected), (word, names)


# Letters beyond ASCII (with "Σ", which Python lowers by its place, and "ß", whose upper
# case is "SS"; not "İ", which PostgreSQL lowers to "i"), and some ASCII ones
LETTERS = "éÉöÖłŁçÇåÅæÆøØωΩžŽђЂΣσßẞaAzZ"
NAME = st.text(alphabet=LETTERS, min_size=1, max_size=8)


@settings(max_examples=30)
@given(names=st.lists(NAME, min_size=1, max_size=5), data=st.data())
async def test_any_piece_in_any_case_finds_its_records(services, world, names, data):  # noqa: F811
    """A piece of a first name, each letter in either case, finds exactly the records
    whose first name holds it in some case, by every route (``found``)."""
    await forget_records(services, world)
    await insert_staff_rows(services, world.tenant, [
        {"first_name": name, "last_name": f"Rec{i}", "title": None, "company": None}
        for i, name in enumerate(names)
    ])
    owner = await actor_of(services, world.members["owner"])
    name = data.draw(st.sampled_from(names))
    start = data.draw(st.integers(0, len(name) - 1))
    end = data.draw(st.integers(start + 1, len(name)))
    word = "".join(
        c.upper() if data.draw(st.booleans()) else c.lower() for c in name[start:end]
    )
    found_names, total = await found(services, owner, StaffQuery(search=word, first=20))
    expected = sorted(f"Rec{i}" for i, n in enumerate(names) if lower(word) in lower(n))
    assert sorted(n for n in found_names if n.startswith("Rec")) == expected, word
    if lower(word) in lower(name):  # not where "ß" became "SS"
        assert f"Rec{names.index(name)}" in found_names
