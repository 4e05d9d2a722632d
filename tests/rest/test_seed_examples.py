"""Every example of BigTime's staff API documentation, sent as written with a plain HTTP
client to a live server, as a BigTime integration would: X-Auth-Token and X-Auth-Realm,
BigTime's paths, query strings and bodies, BigTime's field names in the answers."""

from __future__ import annotations

import httpx
import pytest

from app.access import Role
from app.custom_fields.models import CustomField, CustomFieldType
from app.rest.fields import View, in_view
from app.validation import name_key
from tests.factories import make_member, make_staff, make_tenant, set_custom_value, take_mail
from tests.security.live import live_server

BASIC = {f.name for f in in_view(View.BASIC)}
DETAILED = {f.name for f in in_view(View.DETAILED)}
ADDRESS = {"Id", "Address", "City", "State", "Zip", "Country"}
UDF = {"Sid", "Name", "Value"}


async def _field(services, tenant, pk: int, name: str) -> None:
    """A custom field with the SID the documentation's example posts to."""
    async with services.db.session(write=True) as session:
        session.add(
            CustomField(
                id=pk,
                account_id=tenant.account_id,
                name=name,
                name_key=name_key(name),
                type=CustomFieldType.NUMBER,
                options=[],
                personal=False,
            )
        )
        await session.commit()


@pytest.fixture
async def world(services):
    tenant = await make_tenant(services, "BigTime Firm")
    manager = await make_staff(services, tenant, first_name="Mona", last_name="Manager")
    staffer = await make_staff(
        services,
        tenant,
        first_name="Sam",
        last_name="Staffer",
        email="sam@firm.example",
        manager_id=manager.id,
        address_city="Chicago",
        rate1=150,
    )
    await make_staff(services, tenant, first_name="Ivy", last_name="Inactive", is_inactive=True)
    await _field(services, tenant, 6789, "Custom Field Name 1")
    await _field(services, tenant, 6790, "Custom Field Name 2")
    await set_custom_value(services, tenant, staffer.id, 6789, "7")
    return tenant, staffer, manager


@pytest.fixture
async def server(app):
    async with live_server(app) as base:
        yield base


@pytest.fixture
async def bigtime(server, world):
    tenant = world[0]
    headers = {"X-Auth-Token": tenant.owner.token, "X-Auth-Realm": tenant.slug}
    async with httpx.AsyncClient(base_url=f"{server}/api/v2", headers=headers) as client:
        yield client


async def test_getting_a_listing_of_staff(bigtime, world):
    answer = await bigtime.get("/staff")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"  # personal data
    listed = answer.json()
    assert {s["SName"] for s in listed} == {"Owner", "Manager", "Staffer"}
    for staffer in listed:
        assert set(staffer) == BASIC  # the owner sees every field of the basic view
        assert set(staffer["Address"]) == ADDRESS
    sam = next(s for s in listed if s["SName"] == "Staffer")
    mona = next(s for s in listed if s["SName"] == "Manager")
    assert sam["ManagerID"] == mona["StaffSid"]
    assert sam["EMail"] == "sam@firm.example" and sam["Address"]["City"] == "Chicago"

    answer = await bigtime.get("/staff?ShowInactive=true")
    assert answer.status_code == 200
    assert "Inactive" in {s["SName"] for s in answer.json()}
    assert next(s for s in answer.json() if s["SName"] == "Inactive")["IsInactive"] is True


async def test_pulling_the_detail_for_a_specific_staffer(bigtime, world):
    _, staffer, _ = world
    answer = await bigtime.get(f"/staff/detail/{staffer.sid}?&View=Detailed")
    assert answer.status_code == 200
    detail = answer.json()
    assert set(detail) == DETAILED
    assert detail["StaffSid"] == staffer.sid and detail["FName"] == "Sam"
    assert detail["Rate1"] == 150
    assert detail["UsePayrollItem"] is False and detail["PostTimeAsBilled"] is False
    assert detail["StaffType"] == 1  # an employee
    assert {"Sid": 6789, "Name": "Custom Field Name 1", "Value": "7"} in detail["UdfList"]
    assert all(set(u) == UDF for u in detail["UdfList"])

    answer = await bigtime.get(f"/staff/detail/{staffer.sid}?&View=Basic")
    assert answer.status_code == 200 and set(answer.json()) == BASIC
    answer = await bigtime.get(f"/staff/detail/{staffer.sid}")  # Basic by default
    assert answer.status_code == 200 and set(answer.json()) == BASIC


async def test_creating_a_new_staffer_and_inviting_them(bigtime, services, world):
    body = {
        "FName": "Nina",
        "SName": "New",
        "EMail": "nina@firm.example",
        "Title": "Analyst",
        "Phone_Cell": "+1 312 555 0100",
        "Address": {"Address": "1 Main St", "City": "Chicago", "Zip": "60601"},
        "Rate1": 120,
        "Capacity": 140,
        "Start_dt": "2026-01-05",
        "UsePayrollItem": True,
        "StaffOrgId": 12,
        "StaffType": 2,
    }
    answer = await bigtime.post("/staff/add/?inviteUser=true", json=body)
    assert answer.status_code == 200, answer.text
    created = answer.json()
    assert set(created) == DETAILED
    assert created["SName"] == "New" and created["EMail"] == "nina@firm.example"
    assert created["Address"]["Address"] == "1 Main St"
    assert created["Start_dt"] == "2026-01-05" and created["Capacity"] == 140
    assert created["UsePayrollItem"] is True and created["StaffOrgId"] == 12
    assert created["StaffType"] == 2
    sent = await take_mail(services)
    assert [m["To"] for m in sent] == ["nina@firm.example"]  # ADD+INVITE

    answer = await bigtime.get(f"/staff/detail/{created['StaffSid']}?View=Detailed")
    assert answer.json()["Rate1"] == 120

    # inviteUser=false: ADD only
    body = {"fname": "Otto", "sname": "Other", "email": "otto@firm.example", "Nickname": "x"}
    answer = await bigtime.post("/staff/add/?inviteUser=false", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["FName"] == "Otto"  # names are case-insensitive, others ignored
    assert await take_mail(services) == []


async def test_validation_errors_are_400_with_messages(bigtime, world):
    answer = await bigtime.post("/staff/add/?inviteUser=false", json={"FName": "No last name"})
    assert answer.status_code == 400
    fields = {e["Field"] for e in answer.json()["Errors"]}
    assert fields == {"SName", "EMail"}  # both required ("*")

    answer = await bigtime.post(
        "/staff/add/?inviteUser=false",
        json={"SName": "X", "EMail": "not an email", "Rate1": -5, "HomeTimezone": "Mars/Base"},
    )
    assert answer.status_code == 400
    assert {e["Field"] for e in answer.json()["Errors"]} >= {"EMail", "Rate1", "HomeTimezone"}
    assert all(e["Message"] for e in answer.json()["Errors"])

    answer = await bigtime.post("/staff/add/", json={"SName": "X", "EMail": "x@y.io", "Rate2": "a"})
    assert answer.status_code == 400
    assert answer.json()["Errors"] == [{"Field": "Rate2", "Message": "Rate2 must be a number."}]


@pytest.mark.parametrize("text", ["²", "٣", "--5", "1_000", "nan", "inf", "0x10", "1e"])
async def test_numbers_sent_as_text_are_ascii_digits(bigtime, world, text):
    """Text that Python's int() or float() would read (or crash on) but that is no number
    as JSON writes one: a typed 400 naming the field, nothing stored."""
    body = {"SName": "X", "EMail": "odd@y.io", "StaffOrgId": text, "Rate2": text}
    answer = await bigtime.post("/staff/add/?inviteUser=false", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["Errors"] == [
        {"Field": "StaffOrgId", "Message": "StaffOrgId must be an integer."},
        {"Field": "Rate2", "Message": "Rate2 must be a number."},
    ]
    body = {"FName": "Y", "SName": "X", "EMail": "odd@y.io", "StaffOrgId": " 12 ", "Rate2": "+2.5e1"}
    answer = await bigtime.post("/staff/add/?inviteUser=false", json=body)
    assert answer.status_code == 200, answer.text

    # more digits than Python's int() reads (4,300): out of range, as any too large number
    body = {"SName": "X", "EMail": "odd@y.io", "StaffOrgId": "9" * 5000}
    answer = await bigtime.post("/staff/add/?inviteUser=false", json=body)
    assert answer.status_code == 400, answer.text
    assert {"Field": "StaffOrgId", "Message": "StaffOrgId is out of range."} in answer.json()[
        "Errors"
    ]


async def test_an_invalid_permission_is_405(server, services, world):
    tenant = world[0]
    viewer = await make_member(services, tenant, Role.VIEWER)
    headers = {"X-Auth-Token": viewer.token, "X-Auth-Realm": tenant.slug}
    async with httpx.AsyncClient(base_url=f"{server}/api/v2", headers=headers) as client:
        answer = await client.post("/staff/add/?inviteUser=false", json={"SName": "X"})
    assert answer.status_code == 405
    assert answer.json()["Message"]


async def test_getting_a_list_of_staffer_custom_fields(bigtime, world):
    _, staffer, _ = world
    answer = await bigtime.get(f"/staff/UDFList/{staffer.sid}")
    assert answer.status_code == 200
    assert answer.json() == [
        {"Sid": 6789, "Name": "Custom Field Name 1", "Value": "7"},
        {"Sid": 6790, "Name": "Custom Field Name 2", "Value": ""},
    ]


async def test_getting_custom_fields_by_field_name(bigtime, world):
    _, staffer, _ = world
    answer = await bigtime.post(
        "/staff/UDFListByName", json=["Custom Field Name 1", "Custom Field Name 2"]
    )
    assert answer.status_code == 200
    assert answer.json() == [
        {"Sid": 6789, "Name": "Custom Field Name 1", "Value": "7", "StaffSid": staffer.sid}
    ]
    for everything in ([], None):  # no name, or an empty list: every custom field
        answer = await bigtime.post("/staff/UDFListByName", json=everything)
        assert answer.status_code == 200 and len(answer.json()) == 1


async def test_updating_existing_custom_fields_on_a_staffer(bigtime, world):
    _, staffer, _ = world
    body = {"UDFList": [{"Sid": 6789, "Value": "0"}, {"Sid": 6790, "Value": "1"}]}
    answer = await bigtime.post(f"/staff/UDFList/{staffer.sid}", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == [
        {"Sid": 6789, "Name": "Custom Field Name 1", "Value": "0"},
        {"Sid": 6790, "Name": "Custom Field Name 2", "Value": "1"},
    ]
    answer = await bigtime.post(
        f"/staff/UDFList/{staffer.sid}", json={"UDFList": [{"Sid": 6790, "Value": "one"}]}
    )
    assert answer.status_code == 400
    assert answer.json()["Errors"][0]["Message"] == "Custom Field Name 2 must be a number."


async def test_the_openapi_document_describes_the_catalogue(server):
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{server}/api/v2/openapi.json")
    assert answer.status_code == 200
    doc = answer.json()
    assert set(doc["components"]["schemas"]["StaffDetailed"]["properties"]) == DETAILED
    assert set(doc["paths"]) == {
        "/staff",
        "/staff/detail/{sid}",
        "/staff/add",
        "/staff/UDFList/{sid}",
        "/staff/UDFListByName",
    }


async def test_bodies_that_are_not_json_or_hold_nul_are_400(bigtime, world):
    for content in (b"{", b"[" * 100_000 + b"]" * 100_000, b'{"SName": "a\\u0000b"}'):
        answer = await bigtime.post(
            "/staff/add/", content=content, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400, content[:20]
        assert answer.json()["Message"]


# --- what the catalogue says, held to (outside review R1-R5, R7, R8) ----------------------


async def test_an_add_needs_only_the_starred_fields(bigtime, world):
    """SName and EMail carry the catalogue's "*"; FName does not: left out, the first name
    is empty (as the OpenAPI document's required list says)."""
    answer = await bigtime.post("/staff/add", json={"SName": "Jensen", "EMail": "j@firm.example"})
    assert answer.status_code == 200, answer.text
    added = answer.json()
    assert added["FName"] == "" and added["SName"] == "Jensen"
    detail = (await bigtime.get(f"/staff/detail/{added['StaffSid']}")).json()
    assert detail["FName"] == "" and detail["SName"] == "Jensen"
    blank = await bigtime.post("/staff/add", json={"FName": " ", "SName": "B", "EMail": "b@f.io"})
    assert blank.status_code == 200 and blank.json()["FName"] == ""
    doc = (await bigtime.get("/openapi.json")).json()
    assert doc["components"]["schemas"]["StaffUpdate"]["required"] == ["SName", "EMail"]
    for body in ({"FName": "No", "EMail": "n@f.io"}, {"FName": "No", "SName": "Mail"}):
        refused = await bigtime.post("/staff/add", json=body)
        assert refused.status_code == 400, body


async def test_a_null_capacity_on_add_is_the_default(bigtime, world):
    body = {"FName": "C", "SName": "Cap", "EMail": "cap@firm.example", "Capacity": None}
    answer = await bigtime.post("/staff/add", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["Capacity"] == 160


async def test_numbers_keep_their_json_type_on_every_route(bigtime, world):
    body = {"FName": "N", "SName": "Num", "EMail": "num@firm.example", "Rate1": 120,
            "Rate2": 99.5, "CostFactor": 1, "Salary": 50000}
    added = (await bigtime.post("/staff/add", json=body)).json()
    detail = (await bigtime.get(f"/staff/detail/{added['StaffSid']}?View=Detailed")).json()
    listed = next(s for s in (await bigtime.get("/staff")).json() if s["SName"] == "Num")
    for answer in (added, detail):
        for name, value in (("Capacity", 160), ("Rate1", 120), ("Rate2", 99.5),
                            ("CostFactor", 1), ("Salary", 50000)):
            assert answer[name] == value and type(answer[name]) is type(value), (name, answer)
    assert type(listed["Capacity"]) is int


async def test_dates_are_iso_dates_or_bigtime_date_times(bigtime, world):
    for given, stored in (("2024-01-02", "2024-01-02"), ("2024-01-02T00:00:00", "2024-01-02")):
        body = {"FName": "D", "SName": "Date", "EMail": f"d{len(given)}@f.io", "Start_dt": given}
        answer = await bigtime.post("/staff/add", json=body)
        assert answer.status_code == 200 and answer.json()["Start_dt"] == stored, given
    for given in ("2024-01-02garbage", "2024-12-31 and more", "02/01/2024", "2024-02-30", 2024):
        body = {"FName": "D", "SName": "Bad", "EMail": "bad@f.io", "Start_dt": given}
        answer = await bigtime.post("/staff/add", json=body)
        assert answer.status_code == 400, given
        assert answer.json()["Errors"][0]["Field"] == "Start_dt"


async def test_custom_field_values_are_text_and_errors_name_the_udflist(bigtime, world):
    _, staffer, _ = world
    path = f"/staff/UDFList/{staffer.sid}"
    for value in (True, False, {"a": 1}, [1]):
        answer = await bigtime.post(path, json={"UDFList": [{"Sid": 6790, "Value": value}]})
        assert answer.status_code == 400, value
        assert answer.json()["Errors"] == [
            {"Field": "UDFList.0.Value", "Message": "Value must be a string."}
        ]
    values = {u["Sid"]: u["Value"] for u in (await bigtime.get(path)).json()}
    assert values[6790] == ""
    assert (await bigtime.post(path, json={"UDFList": [{"Sid": 6790, "Value": 3}]})).is_success
    unknown = await bigtime.post(path, json={"UDFList": [{"Sid": 1, "Value": "x"}]})
    assert unknown.status_code == 400
    assert [e["Field"] for e in unknown.json()["Errors"]] == ["UDFList.0.Sid"]
    bad = await bigtime.post(
        path, json={"UDFList": [{"Sid": 6789, "Value": "1"}, {"Sid": 6790, "Value": "lots"}]}
    )
    assert [e["Field"] for e in bad.json()["Errors"]] == ["UDFList.1.Value"]


async def test_unknown_calls_and_methods_answer_in_bigtimes_error_shape(bigtime, world):
    """404 with {"Message"}, never text; a known call asked with another method is 404 as
    well (BigTime's 405 means a missing permission), naming the method it takes."""
    wrong = await bigtime.get("/staff/add/?inviteUser=true")
    assert wrong.status_code == 404
    assert wrong.headers["content-type"] == "application/json"
    assert "takes POST" in wrong.json()["Message"] and wrong.headers["Allow"] == "POST"
    deleted = await bigtime.delete("/staff")
    assert deleted.status_code == 404 and deleted.headers["Allow"] == "GET"
    for path in ("/staff/list", "/nothing", "/"):
        answer = await bigtime.get(path)
        assert answer.status_code == 404, path
        assert set(answer.json()) == {"Message"}, path
