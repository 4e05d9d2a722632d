"""Personal data (email, phones, address, SSN, salary, personal custom fields) by role.

Rows are the ROLE_KEYS ("+PD" = holding the VIEW_PERSONAL_DATA grant from staffPermitGrant).
Hidden personal fields are null without an error; searching and sorting by them need the
permit; writing them without it is a FORBIDDEN userError and nothing is written.
"""

from __future__ import annotations

import pytest

from app.access import Role
from app.staff.models import Staff
from tests.factories import (
    DENIED,
    OK,
    PERMIT_GRANT,
    REFUSED,
    ROLE_KEYS,
    error_codes,
    gid,
    mail_token,
    make_custom_field,
    make_member,
    make_staff,
    make_tenant,
    member_as,
    outcome,
    role_matrix,
    set_custom_value,
    set_staff_secrets,
    take_mail,
    update_row,
)

SEES_PERSONAL = {
    "VIEWER": False,
    "VIEWER+PD": True,
    "EDITOR": False,
    "EDITOR+PD": True,
    "ADMINISTRATOR": True,
    "OWNER": True,
}
PERSONAL_FIELDS = """
  lastName title viewerCanSeePersonalData viewerCanSeeDetails
  email phoneCell phoneWork phoneHome address { street city state zip country } ssn salary
  customFields { field { name } value }
"""
NODE = "query($id: ID!) { node(id: $id) { ... on Staff { " + PERSONAL_FIELDS + " } } }"
SEARCH = """query($s: String) {
  staff(search: $s) { totalCount nodes { id email } }
}"""
SORTED = """query($dir: SortDirection!) {
  staff(sort: {key: EMAIL, direction: $dir}) { nodes { email } }
}"""
UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { staff { id } userErrors { field code message } }
}"""
CREATE = """mutation($input: StaffCreateInput!) {
  staffCreate(input: $input) { staff { id phoneCell } userErrors { field code } }
}"""
REVOKE = PERMIT_GRANT.replace("staffPermitGrant", "staffPermitRevoke")

EMAIL = "carmen.unique-7f3@example.org"
ADDRESS = {
    "street": "1 Main St",
    "city": "Springfield",
    "state": "IL",
    "zip": "62701",
    "country": "US",
}
PERSONAL_VALUES = {
    "email": EMAIL,
    "phoneCell": "+1 555 0100",
    "phoneWork": "+1 555 0101",
    "phoneHome": "+1 555 0102",
    "address": ADDRESS,
    "ssn": "123-45-6789",
    "salary": 85000.0,
}


async def make_colleague(services, tenant) -> str:
    """An unrestricted colleague with every kind of personal data."""
    badge = await make_custom_field(services, tenant, "Badge")
    allergies = await make_custom_field(services, tenant, "Allergies", personal=True)
    row = await make_staff(
        services,
        tenant,
        last_name="Colleague",
        title="Chemist",
        email=EMAIL,
        phone_cell="+1 555 0100",
        phone_work="+1 555 0101",
        phone_home="+1 555 0102",
        **{f"address_{part}": value for part, value in ADDRESS.items()},
    )
    await set_staff_secrets(services, row.id, ssn="123-45-6789", salary=85000)
    await set_custom_value(services, tenant, row.id, badge.id, "B-1")
    await set_custom_value(services, tenant, row.id, allergies.id, "peanuts")
    return gid("Staff", row.id)


async def node(api, member, staff_id: str) -> dict:
    return (await api.data(NODE, {"id": staff_id}, as_=member))["node"]


def assert_personal(seen: dict, visible: bool) -> None:
    assert seen["viewerCanSeePersonalData"] is visible
    for name, value in PERSONAL_VALUES.items():
        assert seen[name] == (value if visible else None), name
    values = {v["field"]["name"]: v["value"] for v in seen["customFields"]}
    assert values == ({"Badge": "B-1", "Allergies": "peanuts"} if visible else {"Badge": "B-1"})


# --- reading -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ROLE_KEYS)
async def test_personal_data_is_null_without_the_permit(api, services, key):
    tenant = await make_tenant(services)
    me = await member_as(api, services, tenant, key)
    colleague = await make_colleague(services, tenant)
    body = await api(NODE, {"id": colleague}, as_=me)
    assert "errors" not in body  # hidden is null, not an error
    seen = body["data"]["node"]
    assert (seen["lastName"], seen["title"], seen["viewerCanSeeDetails"]) == (
        "Colleague",
        "Chemist",
        True,
    )
    assert_personal(seen, SEES_PERSONAL[key])


@pytest.mark.parametrize("key", ROLE_KEYS)
async def test_search_by_email_only_with_the_permit(api, services, key):
    tenant = await make_tenant(services)
    me = await member_as(api, services, tenant, key)
    colleague = await make_colleague(services, tenant)
    # the name is searchable by everyone, so an empty answer below is the rule, not a bug
    found = (await api.data(SEARCH, {"s": "colleague"}, as_=me))["staff"]
    assert [n["id"] for n in found["nodes"]] == [colleague]
    expected = [colleague] if SEES_PERSONAL[key] else []
    for term in (EMAIL, "unique-7f3", "EXAMPLE.ORG"):
        found = (await api.data(SEARCH, {"s": term}, as_=me))["staff"]
        assert [n["id"] for n in found["nodes"]] == expected, term
        assert found["totalCount"] == len(expected), term


@pytest.mark.parametrize("key", ROLE_KEYS)
async def test_sort_by_email_needs_the_permit(api, services, key):
    tenant = await make_tenant(services)
    me = await member_as(api, services, tenant, key)
    await make_colleague(services, tenant)
    await make_staff(services, tenant, email="aaron@example.net")
    body = await api(SORTED, {"dir": "ASC"}, as_=me)
    if not SEES_PERSONAL[key]:
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert body["data"] is None
        return
    assert "errors" not in body
    emails = [n["email"] for n in body["data"]["staff"]["nodes"]]
    # the owner, me (unless I am the owner), the colleague and aaron: every email visible
    assert len(emails) == (3 if key == "OWNER" else 4) and None not in emails
    assert emails == sorted(emails) and emails[0] == "aaron@example.net"
    desc = await api.data(SORTED, {"dir": "DESC"}, as_=me)
    assert [n["email"] for n in desc["staff"]["nodes"]] == emails[::-1]


# --- writing someone else's personal data ------------------------------------------------

WRITE_MATRIX = {
    #            VIEWER   VIEWER+PD EDITOR   EDITOR+PD ADMIN  OWNER
    "email": (REFUSED, REFUSED, REFUSED, OK, OK, OK),
    "phoneCell": (REFUSED, REFUSED, REFUSED, OK, OK, OK),
    "phoneHome": (REFUSED, REFUSED, REFUSED, OK, OK, OK),
    "address": (REFUSED, REFUSED, REFUSED, OK, OK, OK),
    "ssn": (REFUSED, REFUSED, REFUSED, OK, OK, OK),
    "salary": (REFUSED, REFUSED, REFUSED, OK, OK, OK),
}
NEW_VALUES = {
    "email": "carmen.new@example.org",
    "phoneCell": "+44 20 7946 0000",
    "phoneHome": "+44 20 7946 0001",
    "address": {"city": "Shelbyville"},
    "ssn": "987-65-4321",
    "salary": 91000.5,
}


def read_back_value(field: str, value):
    return {**ADDRESS, **value} if field == "address" else value


@pytest.mark.parametrize(("field", "key", "expected"), role_matrix(WRITE_MATRIX))
async def test_write_personal_field_matrix(api, services, field, key, expected):
    tenant = await make_tenant(services)
    me = await member_as(api, services, tenant, key)
    colleague = await make_colleague(services, tenant)
    before = await node(api, tenant.owner, colleague)
    body = await api(UPDATE, {"input": {"id": colleague, field: NEW_VALUES[field]}}, as_=me)
    assert outcome(body, "staffUpdate") == expected
    after = await node(api, tenant.owner, colleague)
    if expected == OK:
        assert after[field] == read_back_value(field, NEW_VALUES[field])
    else:
        errors = body["data"]["staffUpdate"]["userErrors"]
        assert [e["field"] for e in errors] == [["input", field]]
        assert after == before


async def test_refused_personal_field_blocks_the_whole_update(api, services):
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    colleague = await make_colleague(services, tenant)
    body = await api(
        UPDATE, {"input": {"id": colleague, "title": "Boss", "phoneCell": "555 0199"}}, as_=editor
    )
    errors = body["data"]["staffUpdate"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "phoneCell"], "FORBIDDEN")]
    after = await node(api, tenant.owner, colleague)
    assert (after["title"], after["phoneCell"]) == ("Chemist", "+1 555 0100")


CREATE_MATRIX = {
    #                  VIEWER  VIEWER+PD EDITOR   EDITOR+PD ADMIN OWNER
    "phoneCell": (DENIED, DENIED, REFUSED, OK, OK, OK),
    "ssn": (DENIED, DENIED, REFUSED, OK, OK, OK),
}


@pytest.mark.parametrize(("field", "key", "expected"), role_matrix(CREATE_MATRIX))
async def test_create_with_personal_data_matrix(api, services, field, key, expected):
    tenant = await make_tenant(services)
    me = await member_as(api, services, tenant, key)
    value = {"phoneCell": "555 0100", "ssn": "123-45-6789"}[field]
    new = {"firstName": "Nia", "lastName": "Newcomer", field: value}
    body = await api(CREATE, {"input": new}, as_=me)
    assert outcome(body, "staffCreate") == expected
    if expected == REFUSED:
        errors = body["data"]["staffCreate"]["userErrors"]
        assert [e["field"] for e in errors] == [["input", field]]
    query = '{ staff(search: "Newcomer") { nodes { phoneCell ssn } } }'
    created = (await api.data(query, as_=tenant.owner))["staff"]["nodes"]
    assert created == ([{"phoneCell": None, "ssn": None, field: value}] if expected == OK else [])


# --- one's own personal data -------------------------------------------------------------

OWN_WRITE_MATRIX = {
    #            VIEWER   VIEWER+PD EDITOR   EDITOR+PD ADMIN    OWNER
    "phoneCell": (OK, OK, OK, OK, OK, OK),
    "email": (OK, OK, OK, OK, OK, OK),
    "address": (OK, OK, OK, OK, OK, OK),
    "ssn": (REFUSED, REFUSED, REFUSED, REFUSED, REFUSED, OK),
    "salary": (REFUSED, REFUSED, REFUSED, REFUSED, REFUSED, OK),
}


async def with_own_data(api, services, key):
    tenant = await make_tenant(services)
    me = await member_as(api, services, tenant, key)
    await update_row(
        services,
        Staff,
        me.staff_pk,
        phone_cell="+1 555 0100",
        **{f"address_{part}": value for part, value in ADDRESS.items()},
    )
    await set_staff_secrets(services, me.staff_pk, ssn="123-45-6789", salary=85000)
    return tenant, me


@pytest.mark.parametrize("key", ROLE_KEYS)
async def test_everyone_sees_their_own_personal_data(api, services, key):
    tenant, me = await with_own_data(api, services, key)
    own = await node(api, me, me.staff_id)
    assert own["viewerCanSeePersonalData"] is True
    assert (own["email"], own["phoneCell"], own["address"]) == (me.email, "+1 555 0100", ADDRESS)
    assert (own["ssn"], own["salary"]) == ("123-45-6789", 85000.0)
    viewer = await api.data("{ viewer { staff { email ssn } } }", as_=me)
    assert viewer["viewer"]["staff"] == {"email": me.email, "ssn": "123-45-6789"}


@pytest.mark.parametrize(("field", "key", "expected"), role_matrix(OWN_WRITE_MATRIX))
async def test_own_personal_data_write_matrix(api, services, field, key, expected):
    tenant, me = await with_own_data(api, services, key)
    before = await node(api, me, me.staff_id)
    value = {**NEW_VALUES, "email": "me.new@example.org"}[field]
    body = await api(UPDATE, {"input": {"id": me.staff_id, field: value}}, as_=me)
    assert outcome(body, "staffUpdate") == expected
    after = await node(api, me, me.staff_id)
    if expected == OK and field == "email":
        # one's own email changes once the new address confirms it (same answer if taken)
        assert after == before
        [message] = await take_mail(services)
        assert message["To"] == value
        confirm = "mutation($t: String!) { staffEmailConfirm(input: {token: $t}) { email } }"
        await api.data(confirm, {"t": mail_token(message)})
        after = await node(api, me, me.staff_id)
    if expected == OK:
        assert after[field] == read_back_value(field, value)
    else:
        assert after == before


# --- the permit is read fresh on every request -------------------------------------------


@pytest.mark.parametrize("key", ["VIEWER", "EDITOR"])
async def test_grant_and_revoke_take_effect_on_the_next_request(api, services, key):
    tenant = await make_tenant(services)
    me = await make_member(services, tenant, Role(key))
    colleague = await make_colleague(services, tenant)
    edit = {"input": {"id": colleague, "phoneCell": "555 0199"}}

    async def state():
        seen = await node(api, me, colleague)
        found = (await api.data(SEARCH, {"s": EMAIL}, as_=me))["staff"]["totalCount"]
        sort_codes = error_codes(await api(SORTED, {"dir": "ASC"}, as_=me))
        permits = (await api.data("{ viewer { permits } }", as_=me))["viewer"]["permits"]
        return seen, found, sort_codes, "VIEW_PERSONAL_DATA" in permits

    seen, found, sort_codes, has_permit = await state()
    assert_personal(seen, False)
    assert (found, sort_codes, has_permit) == (0, ["BAD_USER_INPUT"], False)

    granted = await api.data(PERMIT_GRANT, {"id": me.staff_id}, as_=tenant.owner)
    assert granted["staffPermitGrant"]["userErrors"] == []
    seen, found, sort_codes, has_permit = await state()
    assert_personal(seen, True)
    assert (found, sort_codes, has_permit) == (1, [], True)
    if key == "EDITOR":
        assert outcome(await api(UPDATE, edit, as_=me), "staffUpdate") == OK

    revoked = await api.data(REVOKE, {"id": me.staff_id}, as_=tenant.owner)
    assert revoked["staffPermitRevoke"]["userErrors"] == []
    seen, found, sort_codes, has_permit = await state()
    assert seen["viewerCanSeePersonalData"] is False
    assert (seen["email"], seen["ssn"], seen["address"]) == (None, None, None)
    assert (found, sort_codes, has_permit) == (0, ["BAD_USER_INPUT"], False)
    edit = {"input": {"id": colleague, "phoneCell": "555 0200"}}
    assert outcome(await api(UPDATE, edit, as_=me), "staffUpdate") == REFUSED
    final = await node(api, tenant.owner, colleague)
    assert final["phoneCell"] == ("555 0199" if key == "EDITOR" else "+1 555 0100")


async def test_role_change_is_read_fresh(api, services):
    """Demoting an administrator (behind the API's back) hides personal data at once."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    colleague = await make_colleague(services, tenant)
    assert (await node(api, admin, colleague))["email"] == EMAIL
    await update_row(services, Staff, admin.staff_pk, role=Role.VIEWER)
    seen = await node(api, admin, colleague)
    assert (seen["email"], seen["viewerCanSeePersonalData"]) == (None, False)
