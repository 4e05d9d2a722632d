"""Review of the SCIM adapter: requests it answered badly.

- A PATCH with an operation on what Roster accepts and ignores (displayName,
  name.formatted, addresses.formatted, a number's display) was refused whole, as
  scim2-models refuses writing a read-only attribute: Entra ID's rename never applied.
- A PatchOp whose Operations is no list, and a search whose attributes or
  excludedAttributes are no list of names, answered 500.
- OPTIONS (and HEAD where GET is not served) got Starlette's plain-text 405, or a 404
  where the path is served; a PATCH was audited as "scimPatch_".
"""

from __future__ import annotations

import pytest

from app.staff.models import Staff
from tests.factories import audit_actions, get_row
from tests.scim.helpers import PATCH, SCIM, USER, scim_error, scim_for
from tests.scim.test_users import _create, _pk

ENTRA_RENAME = [
    {"op": "Replace", "path": "name.givenName", "value": "Janet"},
    {"op": "Replace", "path": "name.formatted", "value": "Janet Doe"},
    {"op": "Replace", "path": "displayName", "value": "Janet Doe"},
]


@pytest.mark.parametrize(
    "operations",
    [
        ENTRA_RENAME,
        [
            {"op": "replace", "path": f"{USER}:displayName", "value": "Janet Doe"},
            {"op": "replace", "path": 'addresses[type eq "work"].formatted', "value": "1 Main"},
            {"op": "replace", "path": 'phoneNumbers[type eq "work"].display', "value": "555"},
            {"op": "remove", "path": "displayName"},
            {"op": "replace", "path": "name.givenName", "value": "Janet"},
        ],
        # a valueless path: the attributes to replace, in a value
        [
            {
                "op": "Replace",
                "value": {
                    "displayName": "Janet Doe",
                    "name": {"givenName": "Janet", "formatted": "Janet Doe"},
                },
            }
        ],
        [{"op": "Replace", "value": {"name.formatted": "Janet Doe", "name.givenName": "Janet"}}],
    ],
)
async def test_what_roster_ignores_leaves_the_rest_of_a_patch_to_apply(
    services, client, operations
):
    s = await scim_for(services, client)
    made = await _create(s, "jd@example.com", title="Lead")
    response = await s.patch(f"/Users/{made['id']}", *operations)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == {"givenName": "Janet", "familyName": "Jensen"}
    assert response.json()["displayName"] == "Janet Jensen"  # the names', as always
    row = await get_row(services, Staff, await _pk(services, s, made["id"]))
    assert (row.first_name, row.last_name, row.title) == ("Janet", "Jensen", "Lead")


async def test_a_patch_of_only_what_roster_ignores_changes_nothing(services, client):
    s = await scim_for(services, client)
    made = await _create(s, "jd@example.com")
    response = await s.patch(
        f"/Users/{made['id']}",
        {"op": "replace", "path": "displayName", "value": "Someone Else"},
        {"op": "replace", "value": {"name": {"formatted": "Someone Else"}}},
    )
    assert response.status_code == 200, response.text
    assert response.json() == made
    # what every resource has stays refused
    scim_error(
        await s.patch(f"/Users/{made['id']}", {"op": "replace", "path": "id", "value": "9"}),
        400,
        "invalidValue",
    )


@pytest.mark.parametrize("operations", [1, True, "replace"])
async def test_operations_that_are_no_list_are_refused(services, client, operations):
    s = await scim_for(services, client)
    made = await _create(s, "jd@example.com")
    response = await client.patch(
        f"{SCIM}/Users/{made['id']}",
        json={"schemas": [PATCH], "Operations": operations},
        headers=s.headers,
    )
    scim_error(response, 400, "invalidValue")  # as /Groups answers it
    assert (await s.get(f"/Users/{made['id']}")).json() == made


@pytest.mark.parametrize("path", ["/Users/.search", "/.search"])
@pytest.mark.parametrize(
    "body",
    [
        {"attributes": [1]},
        {"attributes": 5},
        {"attributes": ["userName", None]},
        {"excludedAttributes": {}},
        {"excludedAttributes": [["name"]]},
    ],
)
async def test_search_attributes_that_are_no_names_are_refused(services, client, path, body):
    s = await scim_for(services, client)
    await _create(s, "jd@example.com")
    scim_error(await s.post(path, body), 400, "invalidValue")
    # names, as a list or joined, are taken
    for names in (["userName"], "userName"):
        response = await s.post(path, {"attributes": names})
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("OPTIONS", "/Users", 405, "GET, HEAD, POST"),
        ("OPTIONS", "/Users/1", 405, "DELETE, GET, HEAD, PATCH, PUT"),
        ("OPTIONS", "/ServiceProviderConfig", 405, "GET, HEAD"),
        ("HEAD", "/Bulk", 405, "POST"),
        ("GET", "/Bulk", 405, "POST"),
        ("HEAD", "/.search", 405, "POST"),
        ("OPTIONS", "/Nothing", 404, None),
        ("HEAD", "/Nothing", 404, None),
    ],
)
async def test_every_method_is_answered_in_scims_shape(
    services, client, method, path, status, allow
):
    s = await scim_for(services, client)
    response = await client.request(method, f"{SCIM}{path}", headers=s.headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    assert response.headers.get("allow") == allow
    if method != "HEAD":  # a HEAD's answer has no body
        scim_error(response, status)


async def test_a_patch_is_audited_as_scim_patch(services, client):
    s = await scim_for(services, client)
    made = await _create(s, "jd@example.com")
    response = await s.patch(
        f"/Users/{made['id']}", {"op": "replace", "path": "title", "value": "Lead"}
    )
    assert response.status_code == 200, response.text
    actions = await audit_actions(services, s.tenant.account_id)
    assert actions == ["scimCreate", "scimPatch"]


async def test_writes_answer_with_the_attributes_asked_for(services, client):
    """RFC 7644 §3.9: attributes and excludedAttributes shape every answer holding a
    resource, a write's too; asked for badly, the write is refused and keeps nothing."""
    from tests.scim.helpers import GROUP, GROUP_SCOPES, user_body

    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    made = await s.post("/Users?excludedAttributes=emails,name", user_body("ex@example.com"))
    assert made.status_code == 201, made.text
    assert "emails" not in made.json() and "name" not in made.json()
    assert made.json()["userName"] == "ex@example.com"
    assert made.headers["Location"].endswith(f"/Users/{made.json()['id']}")
    user_id = made.json()["id"]

    replaced = await s.put(
        f"/Users/{user_id}?attributes=userName", user_body("ex@example.com", title="Lead")
    )
    assert replaced.status_code == 200, replaced.text
    assert set(replaced.json()) <= {"schemas", "id", "userName", "meta"}
    patched = await s.patch(
        f"/Users/{user_id}?attributes=title",
        {"op": "replace", "path": "title", "value": "Chief"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "Chief" and "userName" not in patched.json()

    group = {"schemas": [GROUP], "displayName": "Crew", "members": [{"value": user_id}]}
    created = await s.post("/Groups?excludedAttributes=members", group)
    assert created.status_code == 201, created.text
    assert "members" not in created.json() and created.json()["displayName"] == "Crew"
    group_patch = await s.patch(
        f"/Groups/{created.json()['id']}?excludedAttributes=members",
        {"op": "replace", "path": "displayName", "value": "Crew 2"},
    )
    assert group_patch.status_code == 200, group_patch.text
    assert "members" not in group_patch.json()

    refused = await s.patch(
        f"/Users/{user_id}?attributes=nosuch..path",
        {"op": "replace", "path": "title", "value": "Never"},
    )
    assert refused.status_code == 400, refused.text
    assert (await s.get(f"/Users/{user_id}")).json()["title"] == "Chief"


async def test_a_deeply_nested_patch_value_is_bad_input_not_a_server_error(services, client):
    s = await scim_for(services, client)
    made = await _create(s, "deep@example.com", title="Lead")
    value = "x"
    for _ in range(400):
        value = [value]
    response = await s.patch(
        f"/Users/{made['id']}", {"op": "add", "value": {"name": {"givenName": value}}}
    )
    scim_error(response, 400, response.json().get("scimType"))
    assert (await s.get(f"/Users/{made['id']}")).json()["title"] == "Lead"
