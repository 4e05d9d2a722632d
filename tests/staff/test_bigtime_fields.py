"""The staff fields BigTime's catalogue has and Roster lacked (usePayrollItem, staffOrgId,
postTimeAsBilled: detailed) and externalId (basic, written by administrators, unique in
the account), through GraphQL; the REST API shows the same values."""

from __future__ import annotations

from tests.factories import make_member, make_staff, make_tenant, member_as

FIELDS = "id sid usePayrollItem staffOrgId postTimeAsBilled externalId"
CREATE = f"""mutation($input: StaffCreateInput!) {{
  staffCreate(input: $input) {{ staff {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
UPDATE = f"""mutation($input: StaffUpdateInput!) {{
  staffUpdate(input: $input) {{ staff {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
READ = f"query($id: ID!) {{ node(id: $id) {{ ... on Staff {{ {FIELDS} }} }} }}"
NEW = {"firstName": "Ann", "lastName": "New"}


async def test_the_new_fields_are_written_and_read_through_graphql(client, api, services):
    tenant = await make_tenant(services)
    values = {"usePayrollItem": True, "staffOrgId": 42, "postTimeAsBilled": True,
              "externalId": "okta|00u1"}
    data = await api.data(CREATE, {"input": NEW | values}, as_=tenant.owner)
    created = data["staffCreate"]
    assert created["userErrors"] == []
    assert {k: created["staff"][k] for k in values} == values
    staff_id, sid = created["staff"]["id"], created["staff"]["sid"]

    changes = {"usePayrollItem": False, "staffOrgId": None, "externalId": "okta|00u2"}
    data = await api.data(UPDATE, {"input": {"id": staff_id} | changes}, as_=tenant.owner)
    assert data["staffUpdate"]["userErrors"] == []
    staff = (await api.data(READ, {"id": staff_id}, as_=tenant.owner))["node"]
    assert staff["usePayrollItem"] is False and staff["staffOrgId"] is None
    assert staff["postTimeAsBilled"] is True and staff["externalId"] == "okta|00u2"

    answer = await client.get(
        f"/api/v2/staff/detail/{sid}?View=Detailed",
        headers={"X-Auth-Token": tenant.owner.token, "X-Auth-Realm": tenant.slug},
    )
    detail = answer.json()
    assert (detail["UsePayrollItem"], detail["StaffOrgId"], detail["PostTimeAsBilled"]) == (
        False, None, True)


async def test_external_ids_are_unique_in_an_account_and_set_by_administrators(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    first = await api.data(CREATE, {"input": NEW | {"externalId": "hr-1"}}, as_=tenant.owner)
    assert first["staffCreate"]["userErrors"] == []
    again = await api.data(CREATE, {"input": NEW | {"externalId": "hr-1"}}, as_=tenant.owner)
    assert [(e["field"], e["code"]) for e in again["staffCreate"]["userErrors"]] == [
        (["input", "externalId"], "TAKEN")
    ]
    elsewhere = await api.data(CREATE, {"input": NEW | {"externalId": "hr-1"}}, as_=other.owner)
    assert elsewhere["staffCreate"]["userErrors"] == []  # another account's ids are its own

    editor = await member_as(api, services, tenant, "EDITOR")
    target = await make_staff(services, tenant, last_name="Target")
    from tests.factories import gid

    data = await api.data(
        UPDATE, {"input": {"id": gid("Staff", target.id), "externalId": "hr-2"}}, as_=editor
    )
    assert [e["code"] for e in data["staffUpdate"]["userErrors"]] == ["FORBIDDEN"]
    data = await api.data(
        UPDATE, {"input": {"id": gid("Staff", target.id), "staffOrgId": -1}}, as_=editor
    )
    assert [e["code"] for e in data["staffUpdate"]["userErrors"]] == ["INVALID"]


async def test_the_detailed_fields_are_hidden_with_the_details(api, services):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant)
    hidden = await make_staff(services, tenant, last_name="Hidden", restricted=True,
                              use_payroll_item=True, staff_org_id=7, external_id="x-7")
    from tests.factories import gid

    staff = (await api.data(READ, {"id": gid("Staff", hidden.id)}, as_=viewer))["node"]
    assert staff["usePayrollItem"] is None and staff["staffOrgId"] is None
    assert staff["postTimeAsBilled"] is None
    assert staff["externalId"] == "x-7"  # basic: seen with the profile
