"""The multi-valued attributes of a SCIM User as Roster holds them: one address (the work
address), one number of each phone type (work, mobile, home) and one email (the login,
userName); served with RFC 7643's names, addressable by the value paths identity
providers write (Entra ID's ``addresses[type eq "work"].locality``), and what Roster
cannot hold refused rather than half kept."""

from __future__ import annotations

from tests.scim.helpers import scim_error, scim_for, user_body

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
    assert "one number of each type" in scim_error(response, 400, "invalidValue")["detail"]
    listed = (await s.get("/Users", filter='userName eq "two@example.com"')).json()
    assert listed["totalResults"] == 0
    # a number without a type is a work number
    untyped = [{"value": "+1 555 0001", "type": "work"}, {"value": "+1 555 0002"}]
    response = await s.post("/Users", user_body("two@example.com", phoneNumbers=untyped))
    scim_error(response, 400, "invalidValue")
    home = {"value": "+1 555 0009", "type": "home"}
    user = await _create(s, "one@example.com", phoneNumbers=[two[0], home])
    path = f"/Users/{user['id']}"
    added = [{"value": "+1 555 0003", "type": "work"}]
    response = await s.patch(path, {"op": "add", "path": "phoneNumbers", "value": added})
    scim_error(response, 400, "invalidValue")
    response = await s.put(path, user_body("one@example.com", phoneNumbers=two))
    scim_error(response, 400, "invalidValue")
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


async def test_an_email_besides_the_login_is_refused_not_made_the_login(services, client):
    s = await scim_for(services, client)
    user = await _create(s, "login@example.com")
    path = f"/Users/{user['id']}"
    home = {"value": "private@home.example", "type": "home", "primary": False}
    for operation in (
        {"op": "add", "path": "emails", "value": [home]},
        {"op": "add", "path": 'emails[type eq "home"].value', "value": "private@home.example"},
        {"op": "add", "value": {"emails": [home]}},
        {"op": "replace", "path": "emails", "value": [home]},
        {"op": "add", "path": "emails", "value": [home | {"type": "work"}]},  # a second one
    ):
        body = scim_error(await s.patch(path, operation), 400, "invalidValue")
        assert "Roster holds one email" in body["detail"], operation
    body = scim_error(
        await s.patch(
            path, {"op": "replace", "path": 'emails[type eq "home"].value', "value": "x@y.z"}
        ),
        400,
        "noTarget",
    )
    assert "Roster holds one email" in body["detail"]
    got = (await s.get(path)).json()
    assert got["userName"] == "login@example.com"
    assert got["emails"] == [{"value": "login@example.com"}]
    # what names the primary work email changes the login
    for operation, email in (
        ({"op": "add", "path": 'emails[type eq "work"].value', "value": "w1@example.com"}, "w1"),
        ({"op": "replace", "path": "emails[primary eq true].value", "value": "w2@x.io"}, "w2"),
        ({"op": "replace", "path": "emails", "value": [{"value": "w3@x.io", "primary": True}]}, "w3"),
        ({"op": "add", "value": {"emails": [{"value": "w4@example.com", "primary": True}]}}, "w4"),
        ({"op": "replace", "path": "emails", "value": {"value": "w5@example.com"}}, "w5"),
    ):
        response = await s.patch(path, operation)
        assert response.status_code == 200, response.text
        assert response.json()["userName"].startswith(f"{email}@"), operation


async def test_removing_an_email_leaves_the_login_email(services, client):
    s = await scim_for(services, client)
    user = await _create(s, "stays@example.com", title="Kept")
    path = f"/Users/{user['id']}"
    for operations in (
        [{"op": "remove", "path": 'emails[type eq "home"]'}],
        [{"op": "remove", "path": 'emails[type eq "work"]'}],
        [{"op": "remove", "path": "emails"}, {"op": "Remove", "path": "emails[primary eq false]"}],
    ):
        response = await s.patch(path, *operations)
        assert response.status_code == 200, response.text
        assert response.json() == user | {"meta": response.json()["meta"]}
    # beside other operations
    response = await s.patch(
        path,
        {"op": "remove", "path": 'emails[type eq "home"]'},
        {"op": "replace", "path": "title", "value": "Changed"},
    )
    assert response.status_code == 200, response.text
    got = response.json()
    assert (got["userName"], got["title"]) == ("stays@example.com", "Changed")


async def test_entra_paths_reach_the_work_address_and_numbers(services, client):
    s = await scim_for(services, client)
    user = await _create(s, "entra@example.com", addresses=[ADDRESS])
    assert user["addresses"] == [ADDRESS]  # the address Roster holds is the work address
    path = f"/Users/{user['id']}"
    response = await s.patch(
        path,
        {"op": "Replace", "path": 'addresses[type eq "work"].streetAddress', "value": "2 New St"},
        {"op": "Add", "path": 'addresses[type eq "work"].postalCode', "value": "43004"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["addresses"] == [
        ADDRESS | {"streetAddress": "2 New St", "postalCode": "43004"}
    ]
    # on a user with no address and no number, Entra's Add creates them
    bare = await _create(s, "bare@example.com")
    assert "addresses" not in bare and "phoneNumbers" not in bare
    response = await s.patch(
        f"/Users/{bare['id']}",
        {"op": "Add", "path": 'addresses[type eq "work"].locality', "value": "Columbus"},
        {"op": "Add", "path": 'addresses[type eq "work"].country', "value": "US"},
        {"op": "Add", "path": 'phoneNumbers[type eq "work"].value', "value": "+1 555 0100"},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0101"},
    )
    assert response.status_code == 200, response.text
    got = (await s.get(f"/Users/{bare['id']}")).json()
    assert got["addresses"] == [{"type": "work", "locality": "Columbus", "country": "US"}]
    assert got["phoneNumbers"] == [
        {"value": "+1 555 0100", "type": "work"},
        {"value": "+1 555 0101", "type": "mobile"},
    ]
    # what Roster does not keep: an address of another type, a fax number
    for operation in (
        {"op": "Add", "path": 'addresses[type eq "home"].locality', "value": "Dublin"},
        {"op": "Add", "path": 'phoneNumbers[type eq "fax"].value', "value": "+1 555 0199"},
        {"op": "add", "path": "addresses", "value": [ADDRESS | {"type": "home"}]},
    ):
        response = await s.patch(f"/Users/{bare['id']}", operation)
        assert response.status_code == 400, operation
    home = user_body("home@example.com", addresses=[ADDRESS | {"type": "home"}])
    scim_error(await s.post("/Users", home), 400, "invalidValue")
    assert (await s.get(f"/Users/{bare['id']}")).json() == got
