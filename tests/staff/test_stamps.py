"""A record's modifiedAt moves only for readers who see what changed (app.staff.stamps).

A change to a field of each class (name card, details, personal data, SSN and salary, a
custom value and a personal one) on an unrestricted and on a restricted record, then each
reader's modifiedAt of it on every surface: the directory page (the compiled plan), node,
the BigTime REST detail, the CSV export, SCIM. A reader who does not see the change sees
the time before it, to the microsecond.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.access.scopes import Scope
from app.fields import Visibility
from app.graphql.ids import decode_id
from app.invitations.models import Invitation
from app.invitations.service import sweep_expired
from app.staff.fields import STAFF
from app.staff.models import Staff
from tests.factories import (
    PASSWORD,
    Member,
    Tenant,
    gid,
    make_api_token,
    make_custom_field,
    make_staff,
    make_tenant,
    member_as,
    set_staff_columns,
    update_row,
)

BEFORE = datetime(2020, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { userErrors { field code } }
}"""
SET_VALUES = """mutation($staff: ID!, $values: [CustomFieldValueInput!]!) {
  staffCustomFieldsSet(input: {staffId: $staff, values: $values}) { userErrors { field code } }
}"""
PAGE = "{ staff(first: 50) { nodes { id modifiedAt } } }"
NODE = "query($id: ID!) { node(id: $id) { ... on Staff { modifiedAt lastName } } }"

# Readers: the owner; a viewer; a viewer with ViewPersonalData (neither sees the restricted
# record's details); an administrator's key without the personal_data scope (exports).
OWNER, VIEWER, VIEWER_PD = "owner", "viewer", "viewer+PD"
EVERYONE = {OWNER, VIEWER, VIEWER_PD}

# (what changes, on the restricted record?, who sees it move)
CASES = [
    ("title", False, EVERYONE),
    ("title", True, EVERYONE),
    ("capacity", False, EVERYONE),
    ("capacity", True, {OWNER}),
    ("phoneCell", False, {OWNER, VIEWER_PD}),
    ("phoneCell", True, {OWNER, VIEWER_PD}),
    ("salary", False, {OWNER, VIEWER_PD}),
    ("salary", True, {OWNER}),  # personal data that also needs the details
    ("custom value", False, EVERYONE),
    ("custom value", True, {OWNER}),
    ("personal custom value", False, {OWNER, VIEWER_PD}),
    ("personal custom value", True, {OWNER}),
]
VALUES = {"title": "Chief", "capacity": 100, "phoneCell": "+1 555 0100", "salary": 1234.5}
# what each change is to the export without personal data, and to a SCIM User
EXPORT_SEES = {"title", "capacity", "custom value"}
SCIM_SEES = {"title", "phoneCell"}


@dataclass
class World:
    tenant: Tenant
    readers: dict[str, Member]
    record: Staff
    fields: dict[str, int]


async def _world(services, api, restricted: bool) -> World:
    tenant = await make_tenant(services)
    readers = {
        OWNER: tenant.owner,
        VIEWER: await member_as(api, services, tenant, "VIEWER"),
        VIEWER_PD: await member_as(api, services, tenant, "VIEWER+PD"),
    }
    record = await make_staff(
        services, tenant, first_name="Rae", last_name="Record", restricted=restricted
    )
    shirt = await make_custom_field(services, tenant, "Shirt size")
    home = await make_custom_field(services, tenant, "Home town", personal=True)
    await set_staff_columns(
        services,
        record.id,
        modified_at=BEFORE,
        details_modified_at=None,
        personal_modified_at=None,
        secret_modified_at=None,
    )
    fields = {"custom value": shirt.id, "personal custom value": home.id}
    return World(tenant, readers, record, fields)


async def _change(api, w: World, what: str) -> None:
    owner, record_id = w.tenant.owner, gid("Staff", w.record.id)
    if what in w.fields:
        values = [{"fieldId": gid("CustomField", w.fields[what]), "value": "Oslo"}]
        data = await api.data(SET_VALUES, {"staff": record_id, "values": values}, as_=owner)
        assert data["staffCustomFieldsSet"]["userErrors"] == []
        return
    change = {"id": record_id, what: VALUES[what]}
    data = await api.data(UPDATE, {"input": change}, as_=owner)
    assert data["staffUpdate"]["userErrors"] == []


async def _graphql(api, w: World, reader: Member) -> list[str]:
    """The record's modifiedAt on the directory page and through node."""
    record_id = gid("Staff", w.record.id)
    page = await api.data(PAGE, as_=reader)
    [listed] = [n["modifiedAt"] for n in page["staff"]["nodes"] if n["id"] == record_id]
    node = (await api.data(NODE, {"id": record_id}, as_=reader))["node"]
    return [listed, node["modifiedAt"]]


async def _rest(client, w: World, reader: Member) -> str:
    headers = {"X-Auth-Token": reader.token, "X-Auth-Realm": reader.realm}
    answer = await client.get(f"/api/v2/staff/detail/{w.record.sid}?View=Detailed", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["DtModified"]


async def _exported(client, token: str, realm: str) -> str:
    headers = {"Authorization": f"Bearer {token}", "X-Auth-Realm": realm}
    response = await client.get("/export/staff.csv", headers=headers)
    assert response.status_code == 200, response.text
    rows = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline=""))
    [row] = [r for r in rows if r["lastName"] == "Record"]
    return row["modifiedAt"]


def _moved(stamp: str) -> bool:
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when == BEFORE:
        return False
    assert when > BEFORE, stamp
    return True


@pytest.mark.parametrize(("what", "restricted", "seen_by"), CASES)
async def test_modified_at_moves_only_for_readers_who_see_the_change(
    api, client, services, what, restricted, seen_by
):
    w = await _world(services, api, restricted)
    for reader in w.readers.values():  # nothing has moved yet, on any surface
        assert not any(_moved(s) for s in await _graphql(api, w, reader))
    await _change(api, w, what)
    for name, reader in w.readers.items():
        stamps = [*await _graphql(api, w, reader), await _rest(client, w, reader)]
        assert [_moved(s) for s in stamps] == [name in seen_by] * 3, (name, stamps)


@pytest.mark.parametrize(("what", "restricted", "seen_by"), CASES)
async def test_the_export_and_scim_show_the_latest_change_of_what_they_show(
    api, client, services, what, restricted, seen_by
):
    w = await _world(services, api, restricted)
    owner = w.tenant.owner
    without_personal = await make_api_token(
        services, w.tenant, owner, scopes=[Scope.ADMIN, Scope.STAFF_READ]
    )
    scim = await make_api_token(services, w.tenant, owner, scopes=[Scope.SCIM])
    await _change(api, w, what)
    assert _moved(await _exported(client, owner.token, owner.realm))
    exported = await _exported(client, without_personal, owner.realm)
    assert _moved(exported) == (what in EXPORT_SEES)
    user = await client.get(
        f"/scim/v2/Users/{w.record.sid}", headers={"Authorization": f"Bearer {scim}"}
    )
    assert user.status_code == 200, user.text
    assert _moved(user.json()["meta"]["lastModified"]) == (what in SCIM_SEES)


async def test_a_change_moves_the_stamp_once_for_all_it_changes(api, services):
    """A change to fields of several classes at once shows its one time to each reader."""
    w = await _world(services, api, False)
    change = {"id": gid("Staff", w.record.id), "title": "Chief", "phoneCell": "+1 555 0199"}
    data = await api.data(UPDATE, {"input": change}, as_=w.tenant.owner)
    assert data["staffUpdate"]["userErrors"] == []
    seen = {name: await _graphql(api, w, reader) for name, reader in w.readers.items()}
    assert len({s for stamps in seen.values() for s in stamps}) == 1


async def _stamp_reset(services, *staff_ids: int) -> None:
    for staff_id in staff_ids:
        await set_staff_columns(services, staff_id, modified_at=BEFORE)


async def _seen_by_viewer(api, viewer: Member, staff_pk: int) -> str:
    node = await api.data(NODE, {"id": gid("Staff", staff_pk)}, as_=viewer)
    return node["node"]["modifiedAt"]


async def test_an_ownership_transfer_moves_both_records(api, services):
    tenant = await make_tenant(services)
    viewer = await member_as(api, services, tenant, "VIEWER")
    heir = await member_as(api, services, tenant, "ADMINISTRATOR")
    await _stamp_reset(services, tenant.owner.staff_pk, heir.staff_pk)
    data = await api.data(
        """mutation($id: ID!, $password: String!) {
          accountOwnershipTransfer(input: {staffId: $id, password: $password}) {
            userErrors { code } } }""",
        {"id": heir.staff_id, "password": PASSWORD},
        as_=tenant.owner,
    )
    assert data["accountOwnershipTransfer"]["userErrors"] == []
    for pk in (tenant.owner.staff_pk, heir.staff_pk):
        assert _moved(await _seen_by_viewer(api, viewer, pk))


async def test_deleting_a_manager_moves_their_reports(api, services):
    tenant = await make_tenant(services)
    viewer = await member_as(api, services, tenant, "VIEWER")
    boss = await make_staff(services, tenant, first_name="Bo", last_name="Boss")
    report = await make_staff(services, tenant, first_name="Re", last_name="Report")
    await set_staff_columns(services, report.id, manager_id=boss.id)
    await _stamp_reset(services, report.id)
    data = await api.data(
        "mutation($id: ID!) { staffDelete(input: {staffId: $id}) { userErrors { code } } }",
        {"id": gid("Staff", boss.id)},
        as_=tenant.owner,
    )
    assert data["staffDelete"]["userErrors"] == []
    assert _moved(await _seen_by_viewer(api, viewer, report.id))


async def test_an_invitation_lapsing_or_sent_again_moves_the_record(api, services):
    tenant = await make_tenant(services)
    viewer = await member_as(api, services, tenant, "VIEWER")
    made = await api.data(
        """mutation($input: InvitationCreateInput!) {
          invitationCreate(input: $input) { invitation { id staff { id } } userErrors { code } }
        }""",
        {"input": {"email": "ivy.invited@example.com", "role": "VIEWER"}},
        as_=tenant.owner,
    )
    invitation = made["invitationCreate"]["invitation"]
    staff_pk = decode_id(invitation["staff"]["id"], "Staff")
    await _stamp_reset(services, staff_pk)
    await update_row(
        services,
        Invitation,
        decode_id(invitation["id"], "Invitation"),
        expires_at=datetime(2021, 1, 1, tzinfo=UTC),
        last_sent_at=datetime(2020, 12, 1, tzinfo=UTC),  # long enough ago to resend
    )
    async with services.db.session(write=True) as session:
        assert await sweep_expired(session) == 1
        await session.commit()
    assert _moved(await _seen_by_viewer(api, viewer, staff_pk))
    await _stamp_reset(services, staff_pk)
    sent = await api.data(
        "mutation($id: ID!) { invitationResend(input: {id: $id}) { userErrors { code } } }",
        {"id": invitation["id"]},
        as_=tenant.owner,
    )
    assert sent["invitationResend"]["userErrors"] == []
    assert _moved(await _seen_by_viewer(api, viewer, staff_pk))


# --- any change, generated ----------------------------------------------------------------

# A valid new value for each field staffUpdate writes, by API name (its STAFF row's class
# decides who sees it change). The record was made with none of these set.
NEW_VALUES = {
    "title": "Lead",
    "company": "Initech",
    "notes": "Moved desks",
    "kind": "CONTRACTOR",
    "capacity": 120,
    "rate1": 99.5,
    "homeTimezone": "Europe/Oslo",
    "startDate": "2024-02-01",
    "phoneCell": "+1 555 0111",
    "phoneWork": "+1 555 0112",
    "address": {"city": "Oslo"},
    "email": "moved.somewhere@example.org",
    "ssn": "123-45-6789",
    "salary": 5000,
}
API_FIELD = {row.api: row.name for row in STAFF if row.api}


def _sees(reader: str, field: str, restricted: bool) -> bool:
    """Whether ``reader`` sees ``field`` of the record (the roles' rules, as the README's
    table states them: viewers see an unrestricted record's details only, and personal
    data with the grant)."""
    visibility = STAFF[API_FIELD.get(field, field)].visibility
    details = reader == OWNER or not restricted
    personal = reader in (OWNER, VIEWER_PD)
    needs_details = visibility in (Visibility.DETAILED, Visibility.SECRET)
    needs_personal = visibility in (Visibility.PERSONAL, Visibility.SECRET)
    return (details or not needs_details) and (personal or not needs_personal)


@settings(max_examples=15)
@given(
    changed=st.lists(st.sampled_from(sorted(NEW_VALUES)), min_size=1, max_size=4, unique=True),
    restricted=st.booleans(),
)
async def test_any_change_moves_modified_at_for_exactly_the_readers_who_see_a_changed_field(
    api, services, changed, restricted
):
    w = await _world(services, api, restricted)
    change = {"id": gid("Staff", w.record.id), **{f: NEW_VALUES[f] for f in changed}}
    data = await api.data(UPDATE, {"input": change}, as_=w.tenant.owner)
    assert data["staffUpdate"]["userErrors"] == []
    for name, reader in w.readers.items():
        expected = any(_sees(name, field, restricted) for field in changed)
        assert [_moved(s) for s in await _graphql(api, w, reader)] == [expected] * 2, name


@pytest.mark.parametrize("what", ["custom value", "personal custom value"])
async def test_writing_a_custom_value_it_already_has_moves_no_stamp(api, services, what):
    w = await _world(services, api, False)
    await _change(api, w, what)
    await set_staff_columns(
        services, w.record.id, modified_at=BEFORE, details_modified_at=None,
        personal_modified_at=None, secret_modified_at=None,
    )  # fmt: skip
    await _change(api, w, what)  # the same value again
    for reader in w.readers.values():
        assert not any(_moved(stamp) for stamp in await _graphql(api, w, reader))
