"""Custom field definitions and typed values, through the GraphQL API as an administrator."""

import pytest
from sqlalchemy import func, select

from app.custom_fields.models import CustomField, CustomFieldType, CustomFieldValue
from app.db.base import utcnow
from app.staff.export import COLUMNS
from app.validation import name_key
from tests.factories import error_codes, gid, make_staff, make_tenant

FIELD = "id name type options personal archived"
ERRORS = "userErrors { field code message }"
CREATE = f"""mutation($input: CustomFieldCreateInput!) {{
  customFieldCreate(input: $input) {{ customField {{ {FIELD} }} {ERRORS} }}
}}"""
UPDATE = f"""mutation($input: CustomFieldUpdateInput!) {{
  customFieldUpdate(input: $input) {{ customField {{ {FIELD} }} {ERRORS} }}
}}"""
ARCHIVE = f"""mutation($id: ID!) {{
  customFieldArchive(input: {{id: $id}}) {{ customField {{ {FIELD} }} userErrors {{ field code }} }}
}}"""
FIELDS = f"""query($all: Boolean!) {{ customFields(includeArchived: $all) {{ {FIELD} }} }}"""
SET = """mutation($staffId: ID!, $values: [CustomFieldValueInput!]!) {
  staffCustomFieldsSet(input: {staffId: $staffId, values: $values}) {
    staff { customFields { field { name } value } }
    userErrors { field code message }
  }
}"""
STAFF_VALUES = """query($id: ID!) {
  node(id: $id) { ... on Staff { customFields { field { name } value } } }
}"""
VALUES = """query($names: [String!]) {
  customFieldValues(names: $names) { staff { lastName } field { name } value }
}"""


async def create_field(api, member, name, type="TEXT", **more) -> dict:
    data = await api.data(CREATE, {"input": {"name": name, "type": type, **more}}, as_=member)
    return data["customFieldCreate"]


async def field_id(api, member, name, type="TEXT", **more) -> str:
    payload = await create_field(api, member, name, type, **more)
    assert payload["userErrors"] == [], payload
    return payload["customField"]["id"]


async def update_field(api, member, id, **changes) -> dict:
    data = await api.data(UPDATE, {"input": {"id": id, **changes}}, as_=member)
    return data["customFieldUpdate"]


async def set_values(api, member, staff_pk: int, values: list[tuple[str, str | None]]) -> dict:
    variables = {
        "staffId": gid("Staff", staff_pk),
        "values": [{"fieldId": f, "value": v} for f, v in values],
    }
    return (await api.data(SET, variables, as_=member))["staffCustomFieldsSet"]


async def staff_values(api, member, staff_pk: int) -> dict[str, str]:
    data = await api.data(STAFF_VALUES, {"id": gid("Staff", staff_pk)}, as_=member)
    return {v["field"]["name"]: v["value"] for v in data["node"]["customFields"]}


def codes(payload: dict) -> list[tuple[str, str]]:
    return [(".".join(e["field"][1:]), e["code"]) for e in payload["userErrors"]]


# --- definitions -----------------------------------------------------------------------


async def test_field_names_are_unique_case_insensitively(api, services):
    tenant = await make_tenant(services)
    owner = tenant.owner
    await field_id(api, owner, "Shirt Size")
    again = await create_field(api, owner, "  shirt SIZE ")
    assert codes(again) == [("name", "TAKEN")]
    other = await field_id(api, owner, "Team")
    renamed = await update_field(api, owner, other, name="SHIRT size")
    assert codes(renamed) == [("name", "TAKEN")]
    own_case = await update_field(api, owner, other, name="TEAM")
    assert own_case["userErrors"] == []
    assert own_case["customField"]["name"] == "TEAM"
    names = [f["name"] for f in (await api.data(FIELDS, {"all": True}, as_=owner))["customFields"]]
    assert sorted(names) == ["Shirt Size", "TEAM"]


async def test_names_of_the_staff_exports_own_columns_are_refused(api, services):
    """A field named like a column the staff CSV export writes (any case) would be a
    second column of that header, and the export would not import again: refused on
    create and on rename, every header of the export's."""
    tenant = await make_tenant(services)
    owner = tenant.owner
    headers = [c.header for c in COLUMNS]
    assert "title" in headers and "salary" in headers
    for header in headers:
        for name in (header, header.upper(), f" {header.title()} "):
            payload = await create_field(api, owner, name)
            assert codes(payload) == [("name", "TAKEN")], name
            assert payload["customField"] is None
    team = await field_id(api, owner, "Team")
    renamed = await update_field(api, owner, team, name="Title")
    assert codes(renamed) == [("name", "TAKEN")]
    # a name that only contains one is fine
    assert (await create_field(api, owner, "Job title"))["userErrors"] == []
    names = [f["name"] for f in (await api.data(FIELDS, {"all": True}, as_=owner))["customFields"]]
    assert sorted(names) == ["Job title", "Team"]


async def test_same_field_name_in_another_account_is_fine(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    await field_id(api, tenant.owner, "Shirt Size")
    assert (await create_field(api, other.owner, "Shirt Size"))["userErrors"] == []


async def test_choice_needs_options_and_only_choice_has_them(api, services):
    tenant = await make_tenant(services)
    owner = tenant.owner
    assert codes(await create_field(api, owner, "Size", "CHOICE")) == [("options", "INVALID")]
    empty = await create_field(api, owner, "Size", "CHOICE", options=[])
    assert codes(empty) == [("options", "INVALID")]
    text = await create_field(api, owner, "Remarks", "TEXT", options=["a"])
    assert codes(text) == [("options", "INVALID")]
    twice = await create_field(api, owner, "Size", "CHOICE", options=["S", " s "])
    assert codes(twice) == [("options.1", "INVALID")]
    good = await create_field(api, owner, "Size", "CHOICE", options=[" S ", "M", "L"])
    assert good["userErrors"] == []
    assert good["customField"]["options"] == ["S", "M", "L"]
    fields = (await api.data(FIELDS, {"all": True}, as_=owner))["customFields"]
    assert [f["name"] for f in fields] == ["Size"]


async def _insert_fields(services, tenant, count: int, *, archived: bool = False) -> None:
    async with services.db.session(write=True) as session:
        session.add_all(
            CustomField(
                account_id=tenant.account_id,
                name=f"Field {i}",
                name_key=name_key(f"Field {i}"),
                type=CustomFieldType.TEXT,
                options=[],
                archived_at=utcnow() if archived else None,
            )
            for i in range(count)
        )
        await session.commit()


async def test_concurrent_creates_never_pass_the_field_limit(api, services):
    """The cost model bounds the account's active fields by the limit (no count read):
    creates racing for the last places never pass it."""
    import asyncio

    tenant = await make_tenant(services)
    await _insert_fields(services, tenant, 98)
    answers = await asyncio.gather(
        *(create_field(api, tenant.owner, f"Racer {i}") for i in range(6))
    )
    codes = sorted((a["userErrors"] or [{"code": "OK"}])[0]["code"] for a in answers)
    assert codes == ["LIMIT_REACHED"] * 4 + ["OK"] * 2
    async with services.db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(CustomField)
            .where(CustomField.account_id == tenant.account_id)
        )
    assert count == 100


async def test_at_most_100_active_fields(api, services):
    tenant = await make_tenant(services)
    owner = tenant.owner
    await _insert_fields(services, tenant, 99)
    hundredth = await field_id(api, owner, "Hundredth")
    over = await create_field(api, owner, "One too many")
    assert [e["code"] for e in over["userErrors"]] == ["LIMIT_REACHED"]
    # Archived fields do not count against the limit.
    assert (await api.data(ARCHIVE, {"id": hundredth}, as_=owner))["customFieldArchive"][
        "userErrors"
    ] == []
    assert (await create_field(api, owner, "One too many"))["userErrors"] == []


async def test_at_most_1000_fields_archived_ones_included(api, services):
    """Archived fields are kept with their names and values, so a loop of creating and
    archiving stops at 1,000 in all; the rest of the answer is unchanged."""
    tenant = await make_tenant(services)
    await _insert_fields(services, tenant, 999, archived=True)
    last = await field_id(api, tenant.owner, "Last")
    archived = await api.data(ARCHIVE, {"id": last}, as_=tenant.owner)
    assert archived["customFieldArchive"]["userErrors"] == []
    over = await create_field(api, tenant.owner, "One too many")
    assert [e["code"] for e in over["userErrors"]] == ["LIMIT_REACHED"]
    assert "archived ones included" in over["userErrors"][0]["message"]
    fields = (await api.data(FIELDS, {"all": True}, as_=tenant.owner))["customFields"]
    assert len(fields) == 1000


async def test_archived_field_keeps_values_hidden_and_refuses_writes(api, services):
    tenant = await make_tenant(services)
    owner = tenant.owner
    staff = await make_staff(services, tenant, last_name="Lee")
    shirt = await field_id(api, owner, "Shirt")
    team = await field_id(api, owner, "Team")
    assert (await set_values(api, owner, staff.id, [(shirt, "XL"), (team, "Blue")]))[
        "userErrors"
    ] == []

    archived = (await api.data(ARCHIVE, {"id": shirt}, as_=owner))["customFieldArchive"]
    assert archived["customField"]["archived"] is True
    assert await staff_values(api, owner, staff.id) == {"Team": "Blue"}
    values = (await api.data(VALUES, {}, as_=owner))["customFieldValues"]
    assert [v["field"]["name"] for v in values] == ["Team"]
    assert (await api.data(VALUES, {"names": ["Shirt"]}, as_=owner))["customFieldValues"] == []
    active = (await api.data(FIELDS, {"all": False}, as_=owner))["customFields"]
    assert [f["name"] for f in active] == ["Team"]
    every = (await api.data(FIELDS, {"all": True}, as_=owner))["customFields"]
    assert {f["name"]: f["archived"] for f in every} == {"Shirt": True, "Team": False}

    refused = await set_values(api, owner, staff.id, [(shirt, "S"), (team, "Red")])
    assert codes(refused) == [("values.0.fieldId", "ARCHIVED")]
    assert await staff_values(api, owner, staff.id) == {"Team": "Blue"}
    assert codes(await update_field(api, owner, shirt, name="Shirt size")) == [("id", "ARCHIVED")]

    # The value is kept, only hidden.
    async with services.db.session() as session:
        kept = await session.scalar(
            select(CustomFieldValue.value)
            .where(CustomFieldValue.staff_id == staff.id)
            .join(CustomField)
            .where(CustomField.name == "Shirt")
        )
    assert kept == "XL"


async def test_field_type_cannot_change(api, services):
    tenant = await make_tenant(services)
    number = await field_id(api, tenant.owner, "Age", "NUMBER")
    body = await api(UPDATE, {"input": {"id": number, "type": "TEXT"}}, as_=tenant.owner)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    fields = (await api.data(FIELDS, {"all": True}, as_=tenant.owner))["customFields"]
    assert fields[0]["type"] == "NUMBER"
    options = await update_field(api, tenant.owner, number, options=["1", "2"])
    assert codes(options) == [("options", "INVALID")]


async def test_options_in_use_cannot_be_removed(api, services):
    tenant = await make_tenant(services)
    owner = tenant.owner
    staff = await make_staff(services, tenant)
    size = await field_id(api, owner, "Size", "CHOICE", options=["S", "M", "L"])
    assert (await set_values(api, owner, staff.id, [(size, "m")]))["userErrors"] == []

    refused = await update_field(api, owner, size, options=["S", "L"])
    assert codes(refused) == [("options", "INVALID")]
    assert "M" in refused["userErrors"][0]["message"]
    fields = (await api.data(FIELDS, {"all": True}, as_=owner))["customFields"]
    assert fields[0]["options"] == ["S", "M", "L"]

    unused = await update_field(api, owner, size, options=["S", "M", "XL"])
    assert unused["userErrors"] == []
    assert unused["customField"]["options"] == ["S", "M", "XL"]


async def test_an_option_spelled_anew_rewrites_its_values(api, services):
    """Changing only an option's case keeps its values, which then read as the option is
    now spelled (in every view); another field's and another account's values of the same
    text are left alone."""
    tenant = await make_tenant(services)
    owner = tenant.owner
    night_staff = await make_staff(services, tenant)
    day_staff = await make_staff(services, tenant)
    shift = await field_id(api, owner, "Shift", "CHOICE", options=["day", "night", "late"])
    mood = await field_id(api, owner, "Mood", "CHOICE", options=["day", "night"])
    assert (await set_values(api, owner, night_staff.id, [(shift, "night"), (mood, "night")]))[
        "userErrors"
    ] == []
    assert (await set_values(api, owner, day_staff.id, [(shift, "DAY")]))["userErrors"] == []
    other = await make_tenant(services)
    their_staff = await make_staff(services, other)
    theirs = await field_id(api, other.owner, "Shift", "CHOICE", options=["day", "night"])
    await set_values(api, other.owner, their_staff.id, [(theirs, "night")])

    respelled = await update_field(api, owner, shift, options=["Day", "NIGHT", "late"])
    assert respelled["userErrors"] == []
    assert respelled["customField"]["options"] == ["Day", "NIGHT", "late"]
    assert await staff_values(api, owner, night_staff.id) == {"Shift": "NIGHT", "Mood": "night"}
    assert await staff_values(api, owner, day_staff.id) == {"Shift": "Day"}
    listed = (await api.data(VALUES, {"names": ["Shift"]}, as_=owner))["customFieldValues"]
    assert sorted(v["value"] for v in listed) == ["Day", "NIGHT"]
    assert await staff_values(api, other.owner, their_staff.id) == {"Shift": "night"}
    async with services.db.session() as session:
        stored = await session.scalars(
            select(CustomFieldValue.value).where(CustomFieldValue.account_id == tenant.account_id)
        )
        assert sorted(stored) == ["Day", "NIGHT", "night"]


async def test_only_administrators_define_fields(api, services):
    from app.access import Role
    from tests.factories import make_member

    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    body = await api(CREATE, {"input": {"name": "X", "type": "TEXT"}}, as_=editor)
    assert error_codes(body) == ["FORBIDDEN"]


# --- values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "type, options, raw, stored",
    [
        ("TEXT", None, "  hello world ", "hello world"),
        ("TEXT", None, "x" * 2000, "x" * 2000),
        ("NUMBER", None, "1.50", "1.5"),
        ("NUMBER", None, " 42 ", "42"),
        ("NUMBER", None, "-0.0", "0"),
        ("NUMBER", None, "1e3", "1000"),
        ("NUMBER", None, "0.000", "0"),
        ("NUMBER", None, "-12.340", "-12.34"),
        ("NUMBER", None, "1e-30", "0." + "0" * 29 + "1"),
        ("NUMBER", None, "0.3333333333333333", "0.3333333333333333"),  # a float's text
        ("NUMBER", None, "999999999999999.999999999999999", "999999999999999.999999999999999"),
        ("NUMBER", None, "0.1000000000000000000000000000000000000000", "0.1"),
        ("DATE", None, "2024-02-29", "2024-02-29"),
        ("BOOLEAN", None, "Yes", "true"),
        ("BOOLEAN", None, "no", "false"),
        ("BOOLEAN", None, "TRUE", "true"),
        ("BOOLEAN", None, "false", "false"),
        ("CHOICE", ["Small", "Medium"], "medium", "Medium"),
        ("CHOICE", ["Small", "Medium"], "  SMALL ", "Small"),
    ],
)
async def test_values_are_stored_in_canonical_form(api, services, type, options, raw, stored):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant)
    more = {"options": options} if options else {}
    field = await field_id(api, tenant.owner, "Value", type, **more)
    payload = await set_values(api, tenant.owner, staff.id, [(field, raw)])
    assert payload["userErrors"] == []
    assert payload["staff"]["customFields"] == [{"field": {"name": "Value"}, "value": stored}]
    assert await staff_values(api, tenant.owner, staff.id) == {"Value": stored}


@pytest.mark.parametrize(
    "type, options, raw, code",
    [
        ("TEXT", None, "x" * 2001, "TOO_LONG"),
        ("NUMBER", None, "abc", "INVALID"),
        ("NUMBER", None, "1,5", "INVALID"),
        ("NUMBER", None, "NaN", "INVALID"),
        ("NUMBER", None, "Infinity", "INVALID"),
        # written out, the value would be a million characters
        ("NUMBER", None, "1e-999999", "INVALID"),
        # no digit is rounded away: past 30 after the point, refused
        ("NUMBER", None, "1e-31", "INVALID"),
        ("NUMBER", None, "0." + "9" * 32, "INVALID"),
        ("NUMBER", None, "999999999999999." + "9" * 31, "INVALID"),
        ("NUMBER", None, "0.123456789012345" + "0" * 16 + "1", "INVALID"),
        ("NUMBER", None, "1e-1000030", "INVALID"),
        ("DATE", None, "2023-02-29", "INVALID"),
        ("DATE", None, "29/02/2024", "INVALID"),
        # as the API reads dates and numbers everywhere (app.validation)
        ("DATE", None, "20240101", "INVALID"),
        ("NUMBER", None, "1_000", "INVALID"),
        ("NUMBER", None, "\u0661\u0662\u0663", "INVALID"),
        ("BOOLEAN", None, "maybe", "INVALID"),
        ("CHOICE", ["Small", "Medium"], "Large", "INVALID"),
    ],
)
async def test_bad_values_are_refused(api, services, type, options, raw, code):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant)
    more = {"options": options} if options else {}
    field = await field_id(api, tenant.owner, "Value", type, **more)
    payload = await set_values(api, tenant.owner, staff.id, [(field, raw)])
    assert codes(payload) == [("values.0.value", code)]
    assert await staff_values(api, tenant.owner, staff.id) == {}


async def test_one_error_per_bad_value_and_nothing_written(api, services):
    tenant = await make_tenant(services)
    owner = tenant.owner
    staff = await make_staff(services, tenant)
    text = await field_id(api, owner, "Text")
    number = await field_id(api, owner, "Number", "NUMBER")
    day = await field_id(api, owner, "Day", "DATE")
    flag = await field_id(api, owner, "Flag", "BOOLEAN")
    assert (await set_values(api, owner, staff.id, [(text, "before")]))["userErrors"] == []

    payload = await set_values(
        api,
        owner,
        staff.id,
        [(text, "after"), (number, "ten"), (day, "2024-13-01"), (flag, "yes"), (flag, "no")],
    )
    assert codes(payload) == [
        ("values.1.value", "INVALID"),
        ("values.2.value", "INVALID"),
        ("values.4.fieldId", "INVALID"),
    ]
    assert payload["staff"] is None
    assert await staff_values(api, owner, staff.id) == {"Text": "before"}

    unknown = await set_values(api, owner, staff.id, [(gid("CustomField", 999_999), "x")])
    assert codes(unknown) == [("values.0.fieldId", "NOT_FOUND")]


async def test_field_of_another_account_is_not_found(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    staff = await make_staff(services, tenant)
    foreign = await field_id(api, other.owner, "Theirs")
    payload = await set_values(api, tenant.owner, staff.id, [(foreign, "x")])
    assert codes(payload) == [("values.0.fieldId", "NOT_FOUND")]


@pytest.mark.parametrize("empty", [None, "", "   "])
async def test_null_or_blank_clears_a_value(api, services, empty):
    tenant = await make_tenant(services)
    owner = tenant.owner
    staff = await make_staff(services, tenant)
    text = await field_id(api, owner, "Text")
    number = await field_id(api, owner, "Number", "NUMBER")
    await set_values(api, owner, staff.id, [(text, "keep"), (number, "7")])
    payload = await set_values(api, owner, staff.id, [(number, empty)])
    assert payload["userErrors"] == []
    assert await staff_values(api, owner, staff.id) == {"Text": "keep"}
    async with services.db.session() as session:
        rows = await session.scalar(select(func.count()).select_from(CustomFieldValue))
    assert rows == 1
    # Clearing a value that is not set is fine too.
    assert (await set_values(api, owner, staff.id, [(number, empty)]))["userErrors"] == []


async def test_values_by_field_names(api, services):
    tenant = await make_tenant(services)
    owner = tenant.owner
    ann = await make_staff(services, tenant, last_name="Ann")
    bob = await make_staff(services, tenant, last_name="Bob")
    shirt = await field_id(api, owner, "Shirt")
    team = await field_id(api, owner, "Team")
    await field_id(api, owner, "Unused")
    await set_values(api, owner, ann.id, [(shirt, "M"), (team, "Red")])
    await set_values(api, owner, bob.id, [(shirt, "L")])

    def triples(data):
        return sorted(
            (v["field"]["name"], v["staff"]["lastName"], v["value"])
            for v in data["customFieldValues"]
        )

    named = await api.data(VALUES, {"names": ["shirt"]}, as_=owner)
    assert triples(named) == [("Shirt", "Ann", "M"), ("Shirt", "Bob", "L")]
    both = await api.data(VALUES, {"names": ["SHIRT", " team "]}, as_=owner)
    assert triples(both) == [("Shirt", "Ann", "M"), ("Shirt", "Bob", "L"), ("Team", "Ann", "Red")]
    every = await api.data(VALUES, {}, as_=owner)
    assert triples(every) == triples(both)
    unknown = await api.data(VALUES, {"names": ["No such field"]}, as_=owner)
    assert unknown["customFieldValues"] == []
    mixed = await api.data(VALUES, {"names": ["No such field", "Team"]}, as_=owner)
    assert triples(mixed) == [("Team", "Ann", "Red")]


# --- names that grow when normalised -----------------------------------------------------

# NFKC spells "ﷺ" as 18 characters: six of them make a 108-character key
GROWING = "\ufdfa" * 6


async def test_a_name_whose_key_is_too_long_is_refused(api, services):
    """A name is unique by its key (NFKC, casefolded), kept beside it in a column as long:
    a name that fits but whose key does not is refused, on every database alike."""
    tenant = await make_tenant(services)
    payload = await create_field(api, tenant.owner, GROWING)
    assert codes(payload) == [("name", "TOO_LONG")]
    assert "once normalised" in payload["userErrors"][0]["message"]
    fits = await create_field(api, tenant.owner, "\ufdfa" * 5)  # 90 characters
    assert fits["userErrors"] == []


async def test_more_names_than_an_account_has_fields_are_refused(api, client, services):
    """Past 100 names (no account has more fields), GraphQL and REST both refuse the list
    rather than read only part of it."""
    tenant = await make_tenant(services)
    await field_id(api, tenant.owner, "Shirt")
    names = ["Shirt"] + [f"n{i}" for i in range(100)]
    query = "query($n: [String!]) { customFieldValues(names: $n) { value } }"
    body = await api(query, {"n": names}, as_=tenant.owner)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == "At most 100 names."
    assert (await api.data(query, {"n": names[:100]}, as_=tenant.owner))["customFieldValues"] == []
    h = {"X-Auth-Token": tenant.owner.token, "X-Auth-Realm": tenant.owner.realm}
    refused = await client.post("/api/v2/staff/UDFListByName", json=names, headers=h)
    assert refused.status_code == 400
    assert refused.json()["Message"] == "At most 100 names."


async def test_an_option_removed_while_a_value_is_written_is_never_left_stored(api, services):
    """Removing an option and writing it race: whichever goes first, no stored value is
    left outside the options (the export would no longer import)."""
    import asyncio

    tenant = await make_tenant(services)
    owner = tenant.owner
    people = [await make_staff(services, tenant) for _ in range(4)]
    for round_ in range(4):
        field = await field_id(api, owner, f"Size {round_}", "CHOICE", options=["A", "B"])
        answers = await asyncio.gather(
            update_field(api, owner, field, options=["A"]),
            *(set_values(api, owner, p.id, [(field, "B")]) for p in people),
        )
        # each write is done or refused as a bad value, never an unexpected error
        assert all(
            a["userErrors"] == [] or [e["code"] for e in a["userErrors"]] == ["INVALID"]
            for a in answers
        ), answers
        options = (await api.data(FIELDS, {"all": True}, as_=owner))["customFields"]
        [kept] = [f["options"] for f in options if f["id"] == field]
        stored = {(await staff_values(api, owner, p.id)).get(f"Size {round_}") for p in people}
        assert stored <= {None} if kept == ["A"] else stored <= {"B"}, (kept, stored)


@pytest.mark.parametrize("who", ["guest", "key without staff:read"])
async def test_who_may_not_list_the_fields_learns_none_by_writing(api, services, who):
    """A guest, or a key that does not read the directory, is refused the account's
    fields (``customFields``) and sees them only as values of its own record: writing to
    any other field id (missing, archived, personal and unset, open, with a value not in
    its options) gets the one answer a missing id gets, naming nothing; a field set on
    the record may be written."""
    from app.access import Role
    from app.access.scopes import Scope
    from tests.factories import make_api_token, make_member, set_custom_value

    tenant = await make_tenant(services)
    owner = tenant.owner
    known = await field_id(api, owner, "Known", personal=True)
    ids = {
        "open": await field_id(api, owner, "Open"),
        "personal": await field_id(api, owner, "Shoe size", "CHOICE", personal=True,
                                   options=["small", "large"]),  # fmt: skip
        "archived": await field_id(api, owner, "Old", personal=True),
        "missing": gid("CustomField", 2**31 - 1),
    }
    await api.data(ARCHIVE, {"id": ids["archived"]}, as_=owner)
    if who == "guest":
        member = await make_member(services, tenant, Role.GUEST, kind="CUSTOMER")
        auth = {"as_": member}
    else:
        member = owner
        token = await make_api_token(services, tenant, owner, scopes=[Scope.STAFF_WRITE,
                                                                      Scope.PERSONAL_DATA])
        auth = {"token": token, "realm": tenant.slug}
    await set_custom_value(services, tenant, member.staff_pk, _pk(known), "before")

    answers = {}
    for name, fid in ids.items():
        variables = {"staffId": member.staff_id, "values": [{"fieldId": fid, "value": "zz"}]}
        payload = (await api.data(SET, variables, **auth))["staffCustomFieldsSet"]
        answers[name] = [(e["code"], e["message"]) for e in payload["userErrors"]]
    assert answers["missing"] and answers["missing"][0][0] == "NOT_FOUND"
    assert all(a == answers["missing"] for a in answers.values()), answers
    variables = {"staffId": member.staff_id, "values": [{"fieldId": known, "value": "after"}]}
    payload = (await api.data(SET, variables, **auth))["staffCustomFieldsSet"]
    assert payload["userErrors"] == []
    assert await staff_values(api, owner, member.staff_pk) == {"Known": "after"}


async def test_a_key_that_writes_learns_nothing_of_a_hidden_records_values(api, services):
    """A key that writes but does not read the directory finds its project's people, whose
    details it does not see: which fields hold a value on such a record is not told by
    writing to it either (every field answers as a missing one)."""
    from app.access.scopes import Scope
    from tests.factories import make_api_token, set_custom_value
    from tests.graphql.test_hot import PROJECT_CREATE

    tenant = await make_tenant(services)
    owner = tenant.owner
    peer = await make_staff(services, tenant, last_name="Peer")
    held, empty = await field_id(api, owner, "Held"), await field_id(api, owner, "Empty")
    await set_custom_value(services, tenant, peer.id, _pk(held), "something")
    made = await api.data(PROJECT_CREATE, {"name": "Both", "ids": [owner.staff_id,
                                                                  gid("Staff", peer.id)]},
                          as_=owner)  # fmt: skip
    assert made["projectCreate"]["project"]["id"]
    token = await make_api_token(services, tenant, owner,
                                 scopes=[Scope.STAFF_WRITE, Scope.PERSONAL_DATA])  # fmt: skip
    answers = []
    for fid in (held, empty, gid("CustomField", 2**31 - 1)):
        variables = {"staffId": gid("Staff", peer.id), "values": [{"fieldId": fid, "value": "x"}]}
        payload = (await api.data(SET, variables, token=token, realm=tenant.slug))[
            "staffCustomFieldsSet"]  # fmt: skip
        answers.append([(e["code"], e["message"]) for e in payload["userErrors"]])
    assert answers[0] and answers[0][0][0] == "NOT_FOUND" and answers.count(answers[0]) == 3
    assert await staff_values(api, owner, peer.id) == {"Held": "something"}


def _pk(global_id: str) -> int:
    from app.graphql.ids import decode_any

    return decode_any(global_id)[1]
