"""The multi-valued attributes of a SCIM User as Roster holds them: one address (the work
address), one number of each phone type (work, mobile, home) and one email (the login,
userName); served with RFC 7643's names, addressable by the value paths identity
providers write (Entra ID's ``addresses[type eq "work"].locality``), and what Roster
cannot hold refused rather than half kept."""

from __future__ import annotations

from tests.scim.helpers import ERROR, scim_for, user_body

ADDRESS = {
    "type": "work",
    "streetAddress": "100 Universal City Plaza",
    "locality": "Hollywood",
    "region": "CA",
    "postalCode": "91608",
    "country": "USA",
}


async def _create(s, email: str, **extra) -> dict:
    response = await s.post("/Users", user_body(email, **extra))
    assert response.status_code == 201, response.text
    return response.json()


def _error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body.get("scimType") == scim_type
    return body


def _parts(addresses: list[dict]) -> list[dict]:
    return [{k: v for k, v in a.items() if k != "type"} for a in addresses]


async def test_addresses_are_served_with_rfc_7643_names(services, client):
    s = await scim_for(services, client)
    created = await _create(s, "addr@example.com", addresses=[ADDRESS])
    parts = _parts([ADDRESS])  # streetAddress, postalCode: never street_address, postal_code
    assert _parts(created["addresses"]) == parts
    got = (await s.get(f"/Users/{created['id']}")).json()
    assert _parts(got["addresses"]) == parts
    listed = (await s.get("/Users", filter='userName eq "addr@example.com"')).json()
    assert _parts(listed["Resources"][0]["addresses"]) == parts
    shaped = (await s.get(f"/Users/{created['id']}", attributes="addresses")).json()
    assert _parts(shaped["addresses"]) == parts
    # a PATCH answers with the same names, and keeps the parts it does not name
    response = await s.patch(
        f"/Users/{created['id']}",
        {"op": "replace", "path": "addresses.postalCode", "value": "91609"},
    )
    assert response.status_code == 200, response.text
    assert _parts(response.json()["addresses"]) == [parts[0] | {"postalCode": "91609"}]


async def test_two_numbers_of_one_type_are_refused(services, client):
    s = await scim_for(services, client)
    two = [{"value": "+1 555 0001", "type": "work"}, {"value": "+1 555 0002", "type": "work"}]
    response = await s.post("/Users", user_body("two@example.com", phoneNumbers=two))
    assert "one number of each type" in _error(response, 400, "invalidValue")["detail"]
    listed = (await s.get("/Users", filter='userName eq "two@example.com"')).json()
    assert listed["totalResults"] == 0
    # a number without a type is a work number
    untyped = [{"value": "+1 555 0001", "type": "work"}, {"value": "+1 555 0002"}]
    response = await s.post("/Users", user_body("two@example.com", phoneNumbers=untyped))
    _error(response, 400, "invalidValue")
    home = {"value": "+1 555 0009", "type": "home"}
    user = await _create(s, "one@example.com", phoneNumbers=[two[0], home])
    path = f"/Users/{user['id']}"
    added = [{"value": "+1 555 0003", "type": "work"}]
    response = await s.patch(path, {"op": "add", "path": "phoneNumbers", "value": added})
    _error(response, 400, "invalidValue")
    response = await s.put(path, user_body("one@example.com", phoneNumbers=two))
    _error(response, 400, "invalidValue")
    assert (await s.get(path)).json()["phoneNumbers"] == user["phoneNumbers"]
    # the number held is changed in place, or a number of another type added
    response = await s.patch(
        path,
        {"op": "replace", "path": 'phoneNumbers[type eq "work"].value', "value": "+1 555 0003"},
        {"op": "add", "path": "phoneNumbers", "value": [{"value": "+1 555 04", "type": "mobile"}]},
    )
    assert response.status_code == 200, response.text
    assert sorted((p["type"], p["value"]) for p in response.json()["phoneNumbers"]) == [
        ("home", "+1 555 0009"),
        ("mobile", "+1 555 04"),
        ("work", "+1 555 0003"),
    ]
