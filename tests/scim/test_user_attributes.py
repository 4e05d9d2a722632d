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
