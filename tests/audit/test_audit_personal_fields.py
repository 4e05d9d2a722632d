"""The audit log names personal fields only to readers with ViewPersonalData.

Personal columns are redacted in every entry (``app.audit.changes``); a reader without the
permit (an administrator's API key without ``personal_data``: every role that reads the
log holds the permit) is not told either which personal fields changed, nor whether they
were set or cleared, nor that a personal custom field's value changed: the rule by which
webhooks tell changed fields (``app.events.catalogue.without_personal_data``). Both
executors of ``auditLog`` and the account backup's copy of the log agree.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import pytest

from app.access.scopes import Scope
from tests.factories import (
    Api,
    Member,
    Tenant,
    gid,
    make_api_token,
    make_custom_field,
    make_staff,
    make_tenant,
)
from tests.graphql.test_hot import _answered, cold_client, cold_services

__all__ = ["cold_client", "cold_services"]  # fixtures, used by name

LOG = """query($action: String) { auditLog(first: 20, filter: {action: $action}) {
  totalCount edges { node { action targetType diff } } } }"""
UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { userErrors { field code message } } }"""
SET_VALUES = """mutation($input: StaffCustomFieldsSetInput!) {
  staffCustomFieldsSet(input: $input) { userErrors { field code message } } }"""
IMPORT = """mutation($csv: String!) { staffImport(input: {csv: $csv, apply: true}) {
  created userErrors { code message } errors { row column message } } }"""

# the columns of personal fields (staff), as the diffs name them
PERSONAL_COLUMNS = {
    "email", "phone_cell", "phone_work", "phone_home", "address_street", "address_city",
    "ssn_encrypted", "salary_encrypted",
}
KEYS = {
    "admin+read": [Scope.ADMIN, Scope.STAFF_READ],
    "admin+read+write+invite": [
        Scope.ADMIN, Scope.STAFF_READ, Scope.STAFF_WRITE, Scope.INVITATIONS_WRITE,
    ],
}


@dataclass
class World:
    tenant: Tenant
    record: object
    emergency: object  # a personal custom field
    shirt: object  # an open one

    @property
    def owner(self) -> Member:
        return self.tenant.owner


async def _world(services) -> World:
    tenant = await make_tenant(services)
    record = await make_staff(services, tenant, first_name="Pia", last_name="Private")
    emergency = await make_custom_field(services, tenant, "Emergency contact", personal=True)
    shirt = await make_custom_field(services, tenant, "T-shirt size")
    return World(tenant, record, emergency, shirt)


async def _update(api: Api, w: World, **fields) -> None:
    data = await api.data(UPDATE, {"input": {"id": gid("Staff", w.record.id), **fields}},
                          as_=w.owner)
    assert data["staffUpdate"]["userErrors"] == []


async def _personal_only(api: Api, w: World) -> None:
    await _update(api, w, phoneCell="+1 555 0100", address={"street": "1 Main Street"},
                  ssn="123-45-6000", salary=60000)


async def _salary_alone(api: Api, w: World) -> None:
    await _update(api, w, salary=90000)


async def _ssn_alone(api: Api, w: World) -> None:
    await _update(api, w, ssn="123-45-6009")


async def _mixed(api: Api, w: World) -> None:
    await _update(api, w, title="Chef", email="pia@example.org", phoneWork="+1 555 0101")


async def _custom_values(api: Api, w: World) -> None:
    values = [
        {"fieldId": gid("CustomField", w.emergency.id), "value": "Call Guido"},
        {"fieldId": gid("CustomField", w.shirt.id), "value": "L"},
    ]
    data = await api.data(
        SET_VALUES, {"input": {"staffId": gid("Staff", w.record.id), "values": values}},
        as_=w.owner,
    )
    assert data["staffCustomFieldsSet"]["userErrors"] == []


async def _import(api: Api, w: World) -> None:
    buffer = io.StringIO()
    row = {"firstName": "Ivo", "lastName": "Imported", "title": "Cook",
           "email": "ivo@example.org", "phoneCell": "+1 555 0102", "ssn": "123-45-6001",
           "salary": "50000", "Emergency contact": "Call Ana", "T-shirt size": "M"}
    writer = csv.DictWriter(buffer, fieldnames=list(row), lineterminator="\r\n")
    writer.writeheader()
    writer.writerow(row)
    data = await api.data(IMPORT, {"csv": buffer.getvalue()}, as_=w.owner)
    report = data["staffImport"]
    assert (report["userErrors"], report["errors"], report["created"]) == ([], [], 1), report


# each change, its action, the staff columns and custom fields (World attributes) it names
# that are open to every reader of the log, and those that are personal
CASES = {
    "personal only": (
        _personal_only, "staffUpdate", set(), set(),
        {"phone_cell", "address_street", "ssn_encrypted", "salary_encrypted"}, set(),
    ),
    # secret fields are personal data too (not credentials): an entry of them alone is not
    # listed either
    "salary alone": (_salary_alone, "staffUpdate", set(), set(), {"salary_encrypted"}, set()),
    "ssn alone": (_ssn_alone, "staffUpdate", set(), set(), {"ssn_encrypted"}, set()),
    "mixed": (_mixed, "staffUpdate", {"title"}, set(), {"email", "phone_work"}, set()),
    "custom values": (
        _custom_values, "staffCustomFieldsSet", set(), {"shirt"}, set(), {"emergency"},
    ),
    "import": (
        _import, "staffImport", {"title", "first_name", "last_name"}, {"shirt"},
        {"email", "phone_cell", "ssn_encrypted", "salary_encrypted"}, {"emergency"},
    ),
}


def _named(diff: list, w: World) -> tuple[set[str], set[str]]:
    """The staff columns and the custom fields (by World attribute) ``diff`` names."""
    columns: set[str] = set()
    fields: set[str] = set()
    for change in diff:
        if change["table"] == "staff":
            columns |= set(change["fields"])
        if change["table"] == "custom_field_values":
            fields |= {n for n in ("emergency", "shirt") if change["key"][1] == getattr(w, n).id}
    return columns, fields


async def _entries(client, w: World, token: str, action: str) -> list:
    response = await client.post(
        "/graphql", json={"query": LOG, "variables": {"action": action}},
        headers={"Authorization": f"Bearer {token}", "X-Auth-Realm": w.owner.realm},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    entries = [e["node"] for e in body["data"]["auditLog"]["edges"]]
    assert body["data"]["auditLog"]["totalCount"] == len(entries)
    return entries


async def _diff(client, w: World, token: str, action: str) -> list:
    [entry] = await _entries(client, w, token, action)
    return entry["diff"]


async def _backup_entries(client, w: World, token: str, action: str) -> list:
    response = await client.get(
        "/export/account.json",
        headers={"Authorization": f"Bearer {token}", "X-Auth-Realm": w.owner.realm},
    )
    assert response.status_code == 200, response.text
    return [e for e in response.json()["auditLog"] if e["action"] == action]


async def _backup_diff(client, w: World, token: str, action: str) -> list:
    [entry] = await _backup_entries(client, w, token, action)
    return entry["diff"]


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_a_reader_without_the_permit_is_not_told_which_personal_fields_changed(
    app, api, services, client, cold_client, case, key
):
    change, action, open_columns, open_fields, _, _ = case
    w = await _world(services)
    await change(api, w)
    token = await make_api_token(services, w.tenant, w.owner, scopes=key)
    if not open_columns and not open_fields:
        # a change of personal data alone is not listed at all: an entry with nothing to
        # show would still say when, and whose, personal data changed
        for read in (client, cold_client):
            assert await _entries(read, w, token, action) == []
        assert await _backup_entries(client, w, token, action) == []
        return
    before = _answered(app)
    diff = await _diff(client, w, token, action)
    assert _answered(app) == before + 1  # the compiled plan answered
    assert diff == await _diff(cold_client, w, token, action)  # as graphql-core does
    assert diff == await _backup_diff(client, w, token, action)  # and the backup's copy
    columns, fields = _named(diff, w)
    assert columns & PERSONAL_COLUMNS == set(), diff
    assert open_columns <= columns and fields == open_fields, diff
    for told in diff:
        if told["table"] == "staff":
            # neither set nor cleared, and an update with nothing to tell is left out
            assert "[redacted]" not in json.dumps(told), diff
            assert told["op"] != "update" or told["fields"], diff


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_the_owner_and_a_key_with_the_permit_see_them_redacted(
    api, services, client, cold_client, case
):
    change, action, open_columns, open_fields, personal_columns, personal_fields = case
    w = await _world(services)
    await change(api, w)
    key = await make_api_token(
        services, w.tenant, w.owner, scopes=[Scope.ADMIN, Scope.STAFF_READ, Scope.PERSONAL_DATA]
    )
    for token in (w.owner.token, key):
        diff = await _diff(client, w, token, action)
        assert diff == await _diff(cold_client, w, token, action)
        assert diff == await _backup_diff(client, w, token, action)
        columns, fields = _named(diff, w)
        assert open_columns | personal_columns <= columns, diff
        assert fields == open_fields | personal_fields, diff
        for told in diff:
            for column in set(told["fields"]) & personal_columns:
                assert "[redacted]" in told["fields"][column], diff


async def test_the_address_an_entry_was_made_from_is_personal_data(api, services):
    """Where a member acted from (their network address) is theirs: readers without
    ViewPersonalData are shown null, as the field table classes it."""
    w = await _world(services)
    await _update(api, w, title="Lead")
    shown = """{ auditLog(first: 5, filter: {action: "staffUpdate"}) {
      edges { node { action clientAddress } } } }"""
    whole = await api.data(shown, as_=w.owner)
    [entry] = whole["auditLog"]["edges"]
    assert entry["node"]["clientAddress"]
    key = await make_api_token(services, w.tenant, w.owner, scopes=KEYS["admin+read"])
    unseen = await api.data(shown, token=key, realm=w.tenant.slug)
    assert unseen["auditLog"]["edges"] == [
        {"node": {"action": "staffUpdate", "clientAddress": None}}
    ]


async def test_an_entry_of_secrets_alone_is_listed_to_a_reader_without_the_permit(
    api, services, client
):
    """Only personal data hides an entry: a join link's secret rotated by its maker (no
    column shown, but none of them personal) is listed, with nothing of the secret."""
    w = await _world(services)
    made = await api.data(
        "mutation { joinLinkCreate(input: {role: VIEWER}) { joinLink { id } } }", as_=w.owner
    )
    link = made["joinLinkCreate"]["joinLink"]["id"]
    rotated = await api.data(
        "mutation($id: ID!) { joinLinkRotate(input: {id: $id}) { userErrors { code } } }",
        {"id": link}, as_=w.owner,
    )
    assert rotated["joinLinkRotate"]["userErrors"] == []
    token = await make_api_token(services, w.tenant, w.owner, scopes=[Scope.ADMIN, Scope.STAFF_READ])
    [entry] = await _entries(client, w, token, "joinLinkRotate")
    assert "token_digest" not in json.dumps(entry["diff"])
