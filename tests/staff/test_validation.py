"""Input rules of staffCreate and staffUpdate, seen by a client through GraphQL."""

from datetime import date

import pytest

from tests.factories import gid, make_member, make_staff, make_tenant

FIELDS = """
id firstName lastName fullName email startDate termDate capacity homeTimezone salary rate1
manager { id }
"""
CREATE = f"""mutation($input: StaffCreateInput!) {{
  staffCreate(input: $input) {{ staff {{ {FIELDS} }} userErrors {{ field message code }} }}
}}"""
UPDATE = f"""mutation($input: StaffUpdateInput!) {{
  staffUpdate(input: $input) {{ staff {{ {FIELDS} }} userErrors {{ field message code }} }}
}}"""
COUNT = "{ staff(first: 0, filter: {includeInactive: true, includeDisabled: true}) { totalCount } }"
NODE = f"""query($id: ID!) {{ node(id: $id) {{ ... on Staff {{ {FIELDS} title }} }} }}"""


async def create(api, member, **fields) -> dict:
    fields.setdefault("firstName", "Ann")
    fields.setdefault("lastName", "Lee")
    return (await api.data(CREATE, {"input": fields}, as_=member))["staffCreate"]


async def update(api, member, staff_id: str, **fields) -> dict:
    data = await api.data(UPDATE, {"input": {"id": staff_id, **fields}}, as_=member)
    return data["staffUpdate"]


def errors_by_field(payload: dict) -> dict[str, str]:
    fields = [".".join(e["field"][1:]) for e in payload["userErrors"]]
    assert len(fields) == len(set(fields)), payload["userErrors"]
    return {".".join(e["field"][1:]): e["code"] for e in payload["userErrors"]}


async def staff_count(api, member) -> int:
    return (await api.data(COUNT, as_=member))["staff"]["totalCount"]


async def node(api, member, staff_id: str) -> dict:
    return (await api.data(NODE, {"id": staff_id}, as_=member))["node"]


async def test_names_are_trimmed(api, services):
    tenant = await make_tenant(services)
    payload = await create(api, tenant.owner, firstName="  Ann  ", lastName="\tLee ")
    assert payload["userErrors"] == []
    assert payload["staff"]["fullName"] == "Ann Lee"
    updated = await update(api, tenant.owner, payload["staff"]["id"], lastName="  Park ")
    assert updated["staff"]["lastName"] == "Park"


@pytest.mark.parametrize("blank", [None, "", "   "])
async def test_names_are_required(api, services, blank):
    tenant = await make_tenant(services)
    payload = await create(api, tenant.owner, firstName=blank, lastName=blank)
    assert payload["staff"] is None
    assert errors_by_field(payload) == {"firstName": "REQUIRED", "lastName": "REQUIRED"}
    assert await staff_count(api, tenant.owner) == 1

    staff = await make_staff(services, tenant, last_name="Kept")
    updated = await update(api, tenant.owner, gid("Staff", staff.id), lastName=blank)
    assert errors_by_field(updated) == {"lastName": "REQUIRED"}
    assert (await node(api, tenant.owner, gid("Staff", staff.id)))["lastName"] == "Kept"


async def test_names_have_a_length_limit(api, services):
    tenant = await make_tenant(services)
    payload = await create(api, tenant.owner, lastName="x" * 101)
    assert errors_by_field(payload) == {"lastName": "TOO_LONG"}
    assert (await create(api, tenant.owner, lastName="x" * 100))["userErrors"] == []


@pytest.mark.parametrize("email", ["not-an-email", "ann@", "@example.com", "ann @example.com"])
async def test_invalid_email_is_refused(api, services, email):
    tenant = await make_tenant(services)
    payload = await create(api, tenant.owner, email=email)
    assert errors_by_field(payload) == {"email": "INVALID"}


async def test_email_is_normalised(api, services):
    tenant = await make_tenant(services)
    payload = await create(api, tenant.owner, email="  Ann.Lee@Example.COM ")
    assert payload["staff"]["email"] == "ann.lee@example.com"


async def test_duplicate_email_in_one_account_is_taken_case_insensitively(api, services):
    tenant = await make_tenant(services)
    first = await create(api, tenant.owner, email="ann@example.com")
    assert first["userErrors"] == []
    again = await create(api, tenant.owner, lastName="Other", email="ANN@Example.com")
    assert errors_by_field(again) == {"email": "TAKEN"}
    owner_email = await create(api, tenant.owner, email=tenant.owner.email.upper())
    assert errors_by_field(owner_email) == {"email": "TAKEN"}
    assert await staff_count(api, tenant.owner) == 2

    other = await create(api, tenant.owner, lastName="Other", email="bob@example.com")
    moved = await update(api, tenant.owner, other["staff"]["id"], email="Ann@example.com")
    assert errors_by_field(moved) == {"email": "TAKEN"}
    same = await update(api, tenant.owner, other["staff"]["id"], email="BOB@example.com")
    assert same["userErrors"] == []


async def test_same_email_in_another_account_is_fine(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    assert (await create(api, tenant.owner, email="ann@example.com"))["userErrors"] == []
    payload = await create(api, other.owner, email="ann@example.com")
    assert payload["userErrors"] == []
    assert payload["staff"]["email"] == "ann@example.com"


async def test_manager_from_the_same_account(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    boss = await make_staff(services, tenant, last_name="Boss")
    stranger = await make_staff(services, other, last_name="Stranger")
    payload = await create(api, tenant.owner, managerId=gid("Staff", boss.id))
    assert payload["userErrors"] == []
    assert payload["staff"]["manager"]["id"] == gid("Staff", boss.id)

    foreign = await create(api, tenant.owner, managerId=gid("Staff", stranger.id))
    assert errors_by_field(foreign) == {"managerId": "NOT_FOUND"}
    bogus = await create(api, tenant.owner, managerId="bogus")
    assert errors_by_field(bogus) == {"managerId": "NOT_FOUND"}

    cleared = await update(api, tenant.owner, payload["staff"]["id"], managerId=None)
    assert cleared["userErrors"] == []
    assert cleared["staff"]["manager"] is None


async def test_manager_of_oneself_is_a_cycle(api, services):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant)
    payload = await update(
        api, tenant.owner, gid("Staff", staff.id), managerId=gid("Staff", staff.id)
    )
    assert errors_by_field(payload) == {"managerId": "MANAGER_CYCLE"}


async def test_two_people_managing_each_other_is_a_cycle(api, services):
    tenant = await make_tenant(services)
    a = await make_staff(services, tenant, last_name="A")
    b = await make_staff(services, tenant, last_name="B", manager_id=a.id)
    payload = await update(api, tenant.owner, gid("Staff", a.id), managerId=gid("Staff", b.id))
    assert errors_by_field(payload) == {"managerId": "MANAGER_CYCLE"}
    assert (await node(api, tenant.owner, gid("Staff", a.id)))["manager"] is None


async def test_longer_manager_chains_cannot_loop(api, services):
    tenant = await make_tenant(services)
    chain = [await make_staff(services, tenant, last_name="Top")]
    for i in range(5):
        chain.append(await make_staff(services, tenant, last_name=f"L{i}", manager_id=chain[-1].id))
    top, bottom = chain[0], chain[-1]
    payload = await update(
        api, tenant.owner, gid("Staff", top.id), managerId=gid("Staff", bottom.id)
    )
    assert errors_by_field(payload) == {"managerId": "MANAGER_CYCLE"}
    middle = await update(
        api, tenant.owner, gid("Staff", chain[2].id), managerId=gid("Staff", chain[4].id)
    )
    assert errors_by_field(middle) == {"managerId": "MANAGER_CYCLE"}

    # Moving someone elsewhere in the tree (no loop) is fine.
    outsider = await make_staff(services, tenant, last_name="Outsider")
    fine = await update(
        api, tenant.owner, gid("Staff", outsider.id), managerId=gid("Staff", bottom.id)
    )
    assert fine["userErrors"] == []
    skip = await update(api, tenant.owner, gid("Staff", bottom.id), managerId=gid("Staff", top.id))
    assert skip["userErrors"] == []


async def test_time_zone_must_be_a_known_iana_name(api, services):
    tenant = await make_tenant(services)
    for bad in ("Mars/Olympus_Mons", "CEST", "europe/berlin "):
        payload = await create(api, tenant.owner, homeTimezone=bad)
        assert errors_by_field(payload) == {"homeTimezone": "INVALID"}, bad
    good = await create(api, tenant.owner, homeTimezone="America/Argentina/Buenos_Aires")
    assert good["userErrors"] == []
    assert good["staff"]["homeTimezone"] == "America/Argentina/Buenos_Aires"


async def test_term_date_cannot_precede_start_date(api, services):
    tenant = await make_tenant(services)
    payload = await create(api, tenant.owner, startDate="2024-05-02", termDate="2024-05-01")
    assert errors_by_field(payload) == {"termDate": "INVALID"}
    same_day = await create(api, tenant.owner, startDate="2024-05-02", termDate="2024-05-02")
    assert same_day["userErrors"] == []

    staff_id = same_day["staff"]["id"]
    earlier = await update(api, tenant.owner, staff_id, termDate="2024-01-01")
    assert errors_by_field(earlier) == {"termDate": "INVALID"}
    later_start = await update(api, tenant.owner, staff_id, startDate="2024-06-01")
    assert errors_by_field(later_start) == {"termDate": "INVALID"}
    assert (await node(api, tenant.owner, staff_id))["termDate"] == "2024-05-02"


@pytest.mark.parametrize("field", ["rate1", "capacity", "salary", "costFactor"])
async def test_negative_numbers_are_refused(api, services, field):
    tenant = await make_tenant(services)
    payload = await create(api, tenant.owner, **{field: -0.01})
    assert errors_by_field(payload) == {field: "INVALID"}
    assert await staff_count(api, tenant.owner) == 1
    assert (await create(api, tenant.owner, **{field: 0}))["userErrors"] == []


async def test_start_date_defaults_to_today_and_capacity_to_160(api, services):
    tenant = await make_tenant(services)
    payload = await create(api, tenant.owner)
    assert payload["userErrors"] == []
    assert payload["staff"]["startDate"] == date.today().isoformat()
    assert payload["staff"]["capacity"] == 160
    explicit = await create(api, tenant.owner, startDate="2020-02-29", capacity=80)
    assert explicit["staff"]["startDate"] == "2020-02-29"
    assert explicit["staff"]["capacity"] == 80


async def test_several_bad_fields_give_one_error_each_and_write_nothing(api, services):
    tenant = await make_tenant(services)
    payload = await create(
        api,
        tenant.owner,
        firstName=" ",
        email="nope",
        homeTimezone="Nowhere/Land",
        rate1=-5,
        capacity=-1,
        salary=-100,
        title="Fine title",
    )
    assert payload["staff"] is None
    assert errors_by_field(payload) == {
        "firstName": "REQUIRED",
        "email": "INVALID",
        "homeTimezone": "INVALID",
        "rate1": "INVALID",
        "capacity": "INVALID",
        "salary": "INVALID",
    }
    assert await staff_count(api, tenant.owner) == 1


async def test_a_bad_update_changes_nothing(api, services):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant, last_name="Kept", title="Old title")
    staff_id = gid("Staff", staff.id)
    payload = await update(
        api,
        tenant.owner,
        staff_id,
        title="New title",
        lastName="",
        rate1=-1,
        homeTimezone="Atlantis",
    )
    assert errors_by_field(payload) == {
        "lastName": "REQUIRED",
        "rate1": "INVALID",
        "homeTimezone": "INVALID",
    }
    after = await node(api, tenant.owner, staff_id)
    assert (after["title"], after["lastName"], after["rate1"]) == ("Old title", "Kept", None)


async def test_reference_problems_are_reported_together(api, services):
    tenant = await make_tenant(services)
    await create(api, tenant.owner, email="taken@example.com")
    other = await make_tenant(services)
    stranger = await make_staff(services, other)
    payload = await create(
        api,
        tenant.owner,
        lastName="New",
        email="Taken@example.com",
        managerId=gid("Staff", stranger.id),
        startDate="2024-02-01",
        termDate="2024-01-01",
    )
    assert errors_by_field(payload) == {
        "email": "TAKEN",
        "managerId": "NOT_FOUND",
        "termDate": "INVALID",
    }
    assert await staff_count(api, tenant.owner) == 2


async def test_editor_can_create_but_viewer_cannot(api, services):
    from app.access import Role
    from tests.factories import error_codes

    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    viewer = await make_member(services, tenant, Role.VIEWER)
    assert (await create(api, editor, lastName="ByEditor"))["userErrors"] == []
    body = await api(CREATE, {"input": {"firstName": "A", "lastName": "B"}}, as_=viewer)
    assert error_codes(body) == ["FORBIDDEN"]


async def test_format_and_reference_problems_are_reported_in_one_answer(api, services):
    tenant = await make_tenant(services)
    await create(api, tenant.owner, email="taken@example.com")
    payload = await create(
        api, tenant.owner, lastName="New", email="taken@example.com", homeTimezone="Atlantis"
    )
    assert errors_by_field(payload) == {"email": "TAKEN", "homeTimezone": "INVALID"}


SORTED = "{ staff(first: 10, sort: {key: LAST_NAME}) { nodes { lastName } } }"


async def test_a_last_name_that_grows_when_normalised_is_kept_and_sorted(api, services):
    """A last name is sorted by its key (NFKC, casefolded; "\ufdfa" is 18 characters in
    it): names of the longest length made of such characters are kept whole, on create and
    on update, and sorted, on every database alike."""
    tenant = await make_tenant(services)
    growing = "\ufdfa" * 100
    made = await create(api, tenant.owner, lastName=growing)
    assert made["userErrors"] == [], made
    other = await create(api, tenant.owner, lastName="Zed")
    changed = await update(api, tenant.owner, other["staff"]["id"], lastName="\ufdfa" * 99 + "a")
    assert changed["userErrors"] == [], changed
    names = [n["lastName"] for n in (await api.data(SORTED, as_=tenant.owner))["staff"]["nodes"]]
    assert set(names) >= {growing, "\ufdfa" * 99 + "a"}
