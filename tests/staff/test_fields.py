"""The staff field table (``app.staff.fields.STAFF``) is the one place a staff field is
classified: every column has a row, the API, the input and the export agree with it, and
changing a row's class changes what every consumer shows, exports, backs up and logs."""

from __future__ import annotations

import csv
import io

import graphql
import orjson
import pytest
from sqlalchemy import inspect, select

from app.access import ROLE_PERMITS, Actor, Permit, Role
from app.accounts.backup import account_json
from app.audit.models import AuditEntry
from app.fields import UnknownField, Visibility, Write
from app.graphql.mutations.staff import StaffCreateInput, StaffFieldsInput
from app.graphql.types import staff as staff_types
from app.staff import access
from app.staff import service as staff_service
from app.staff.access import Shown
from app.staff.export import staff_csv
from app.staff.fields import STAFF
from app.staff.models import Staff
from tests.factories import error_codes, gid, make_member, make_staff, make_tenant

# --- every column, every API field, every input field has its row -------------------------


def test_every_column_of_staff_has_a_row():
    columns = set(inspect(Staff).columns.keys())
    assert set(STAFF.columns) == columns, (
        f"columns without a row: {sorted(columns - set(STAFF.columns))}; "
        f"rows naming no column: {sorted(set(STAFF.columns) - columns)}"
    )


def _staff_type_fields(schema) -> set[str]:
    """The Staff type's fields, as the API names them."""
    return set(graphql.build_schema(schema.as_str()).get_type("Staff").fields)


def test_every_api_name_is_a_field_of_the_staff_type(app):
    schema = app.state.graphql.schema
    fields = _staff_type_fields(schema)
    for row in STAFF:
        assert row.api is None or row.api in fields, row
        if row.visibility is Visibility.INTERNAL:
            assert row.api is None and not row.csv, f"{row.name} is bookkeeping, never shown"


def test_every_field_of_the_staff_type_is_a_row_or_computed(app):
    """A Staff field that shows a column has a row (and so a class): nothing is shown
    because no one classified it."""
    from strawberry.utils.str_converters import to_camel_case

    rows = {row.api for row in STAFF if row.api}
    computed = {to_camel_case(name) for name in (*staff_types.DERIVED, *staff_types.READS)}
    relations = {"projects", "permits", "sharedWith"}  # decided by their own rules
    unclassified = _staff_type_fields(app.state.graphql.schema) - rows - computed - relations
    assert not unclassified


def test_the_input_writes_only_fields_with_a_row_and_a_validator():
    names = {f.python_name for f in StaffFieldsInput.__strawberry_definition__.fields}
    for name in names:
        row = STAFF[name]
        assert row.write is not Write.NOBODY and row.clean is not None, name
    writable = {row.name for row in STAFF if row.write is not Write.NOBODY}
    assert writable == names
    created = {f.python_name for f in StaffCreateInput.__strawberry_definition__.fields}
    assert STAFF["role"].clean is not None and "role" in created


def test_the_table_says_what_the_old_lists_said():
    """The classes of today's fields (the lists in access.py, export.py, backup.py and the
    audit log that this table replaces)."""
    by_class = {v: {r.name for r in STAFF if r.visibility is v} for v in Visibility}
    assert by_class[Visibility.PERSONAL] == {
        "email",
        "phone_cell",
        "phone_work",
        "phone_home",
        "address",
        "personal_modified_at",  # when those last changed (app.staff.stamps)
    }
    assert by_class[Visibility.SECRET] == {"ssn", "salary", "secret_modified_at"}
    assert by_class[Visibility.DETAILED] == {
        "status_id",
        "start_date",
        "term_date",
        "capacity",
        "cost_factor",
        "hour_rate_type",
        *(f"rate{i}" for i in range(1, 6)),
        "home_timezone",
        "use_payroll_item",
        "staff_org_id",
        "post_time_as_billed",
        "details_modified_at",
    }
    assert by_class[Visibility.INTERNAL] == {
        "id",
        "account_id",
        "user_id",
        "last_name_key",
        "tokens_valid_from",
    }
    assert {r.name for r in STAFF if r.write is Write.ADMINISTRATORS} == {
        "restricted",
        "external_id",
    }
    assert STAFF["address"].columns == tuple(
        f"address_{p}" for p in ("street", "city", "state", "zip", "country")
    )
    assert STAFF["ssn"].columns == ("ssn_encrypted",) and STAFF["ssn"].encrypted
    assert staff_service.ENCRYPTED_COLUMNS == {
        "ssn": "ssn_encrypted",
        "salary": "salary_encrypted",
    }


# --- unknown fields are errors, never "visible" ------------------------------------------


def _actor(tenant, role: Role = Role.OWNER, *, drop=()) -> Actor:
    return Actor(
        user_id=tenant.owner.user_id,
        account_id=tenant.account_id,
        staff_id=tenant.owner.staff_pk,
        role=role,
        permits=ROLE_PERMITS[role] - frozenset(drop),
    )


def test_unknown_fields_raise():
    actor = Actor(
        user_id=1, account_id=1, staff_id=1, role=Role.OWNER, permits=ROLE_PERMITS[Role.OWNER]
    )
    for name in ("nickname", "password", "address_street", "ssn_encrypted"):
        with pytest.raises(UnknownField):
            access.shown(name)
        with pytest.raises(UnknownField):
            access.write_denial(actor, 2, False, name)
        with pytest.raises(UnknownField):
            access.create_denial(actor, name, "x")
    for bookkeeping in ("id", "account_id", "last_name_key", "tokens_valid_from", "user_id"):
        with pytest.raises(UnknownField):
            access.shown(bookkeeping)  # never shown as data
    assert access.shown("title") is Shown.ALWAYS
    assert access.shown("capacity") is Shown.WITH_DETAILS
    assert access.shown("email") is Shown.WITH_PERSONAL_DATA
    assert access.shown("ssn") is Shown.WITH_DETAILS_AND_PERSONAL_DATA


def test_fields_nobody_edits_are_refused():
    actor = Actor(
        user_id=1, account_id=1, staff_id=1, role=Role.OWNER, permits=ROLE_PERMITS[Role.OWNER]
    )
    for name in ("sid", "account_status", "created_at", "modified_at", "role"):
        assert access.write_denial(actor, 2, False, name) is not None, name


async def test_adding_staff_with_an_unknown_field_is_an_error(services):
    tenant = await make_tenant(services)
    async with services.db.session(write=True) as session:
        with pytest.raises(UnknownField):
            await staff_service.create_staff(
                session,
                _actor(tenant),
                services.settings.keyring,
                {"first_name": "A", "last_name": "B", "nickname": "x"},
            )


# --- change one row's class: every consumer follows ---------------------------------------

LIST = "{ staff(first: 50) { nodes { id title capacity } } }"
NODE = "query($id: ID!) { node(id: $id) { ... on Staff { id title capacity } } }"
# The same beside a root field the hot plans do not answer: graphql-core answers it.
NODE_ORDINARY = NODE.replace("} } }", "} } projects { id } }")
UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { staff { id } userErrors { field code message } }
}"""
SORTED = "{ staff(sort: {key: TITLE}) { nodes { id } } }"
SEARCHED = '{ staff(search: "lead") { totalCount nodes { id } } }'


def _answered(app) -> int:
    return app.state.graphql.schema.hot_paths.answered


async def _as_seen_by(app, api, member, staff_id: str) -> tuple[dict, dict, dict]:
    """One record as ``member`` sees it in the hot plan's list, and by id (node) through
    the hot plan and the ordinary executor (which must agree), and the member's own
    record in the list."""
    answered = _answered(app)
    nodes = {n["id"]: n for n in (await api.data(LIST, as_=member))["staff"]["nodes"]}
    assert _answered(app) == answered + 1, "the hot plan answered the list"
    planned = (await api.data(NODE, {"id": staff_id}, as_=member))["node"]
    assert _answered(app) == answered + 2, "the hot plan answered node"
    node = (await api.data(NODE_ORDINARY, {"id": staff_id}, as_=member))["node"]
    assert _answered(app) == answered + 2, "graphql-core answered node beside projects"
    assert planned == node
    return nodes[staff_id], node, nodes[member.staff_id]


async def _csv(services, actor: Actor) -> tuple[list[str], dict[str, dict]]:
    async with services.db.session() as session:
        text = "".join([c async for c in staff_csv(session, actor, services.settings.keyring)])
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    rows = {r["lastName"]: r for r in reader}
    return list(reader.fieldnames or []), rows


async def _backup_staff(services, actor: Actor) -> dict[int, dict]:
    async with services.db.session() as session:
        data = b"".join([c async for c in account_json(session, actor, services.settings.keyring)])
    return {row["id"]: row for row in orjson.loads(data)["staff"]}


async def _logged_change(services, staff_pk: int) -> dict:
    async with services.db.session() as session:
        entry = await session.scalar(
            select(AuditEntry)
            .where(AuditEntry.action == "staffUpdate")
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
    [change] = [c for c in entry.diff if c["table"] == "staff" and c["id"] == staff_pk]
    return change["fields"]


async def test_a_title_made_personal_is_hidden_exported_backed_up_and_logged_as_personal(
    app, api, services
):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER, title="My own title")
    editor = await make_member(services, tenant, Role.EDITOR)
    colleague = await make_staff(services, tenant, last_name="Colleague", title="Engineer")
    colleague_id = gid("Staff", colleague.id)
    admin = _actor(tenant, Role.ADMINISTRATOR, drop={Permit.VIEW_PERSONAL_DATA})
    owner = _actor(tenant)

    # As it is: title is basic.
    listed, node, _ = await _as_seen_by(app, api, viewer, colleague_id)
    assert listed["title"] == node["title"] == "Engineer"
    header, rows = await _csv(services, admin)
    assert "title" in header and rows["Colleague"]["title"] == "Engineer"
    assert (await _backup_staff(services, admin))[colleague.id]["title"] == "Engineer"
    await api.data(UPDATE, {"input": {"id": colleague_id, "title": "Lead"}}, as_=tenant.owner)
    assert (await _logged_change(services, colleague.id))["title"] == ["Engineer", "Lead"]
    assert not error_codes(await api(SORTED, as_=viewer))
    assert (await api.data(SEARCHED, as_=viewer))["staff"]["totalCount"] == 1

    with STAFF.override("title", visibility=Visibility.PERSONAL):
        # searching by it needs the permit too (the title is "Lead" here)
        assert (await api.data(SEARCHED, as_=viewer))["staff"]["totalCount"] == 0
        assert (await api.data(SEARCHED, as_=tenant.owner))["staff"]["totalCount"] == 1
        # the API: null for a viewer without the permit, on both paths; one's own is shown
        listed, node, own = await _as_seen_by(app, api, viewer, colleague_id)
        assert listed["title"] is None and node["title"] is None
        assert own["title"] == "My own title"
        listed, node, _ = await _as_seen_by(app, api, tenant.owner, colleague_id)
        assert listed["title"] == node["title"] == "Lead"
        # the export: gone for an administrator without the permit, kept with it
        header, rows = await _csv(services, admin)
        assert "title" not in header and "title" not in rows["Colleague"]
        header, rows = await _csv(services, owner)
        assert rows["Colleague"]["title"] == "Lead"
        assert header.index("title") == 3  # where it always was
        # the backup: the same
        assert "title" not in (await _backup_staff(services, admin))[colleague.id]
        assert (await _backup_staff(services, owner))[colleague.id]["title"] == "Lead"
        # the audit log: redacted
        await api.data(UPDATE, {"input": {"id": colleague_id, "title": "Chief"}}, as_=tenant.owner)
        assert (await _logged_change(services, colleague.id))["title"] == [
            "[redacted]",
            "[redacted]",
        ]
        # writing it and sorting by it need the permit
        body = await api.data(UPDATE, {"input": {"id": colleague_id, "title": "X"}}, as_=editor)
        assert body["staffUpdate"]["userErrors"] == [
            {
                "field": ["input", "title"],
                "code": "FORBIDDEN",
                "message": "Changing personal data needs the ViewPersonalData permit.",
            }
        ]
        assert error_codes(await api(SORTED, as_=viewer)) == ["BAD_USER_INPUT"]

    # and back
    listed, node, _ = await _as_seen_by(app, api, viewer, colleague_id)
    assert listed["title"] == node["title"] == "Chief"
    header, _ = await _csv(services, admin)
    assert "title" in header


async def test_a_detail_made_personal_follows_the_personal_data_rule(app, api, services):
    """capacity: from "details of restricted records" to "personal data"."""
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    hidden = await make_staff(services, tenant, last_name="Hidden", capacity=120, restricted=True)
    plain = await make_staff(services, tenant, last_name="Plain", capacity=130)

    listed, node, _ = await _as_seen_by(app, api, viewer, gid("Staff", plain.id))
    assert listed["capacity"] == node["capacity"] == 130
    listed, node, _ = await _as_seen_by(app, api, viewer, gid("Staff", hidden.id))
    assert listed["capacity"] is None and node["capacity"] is None  # restricted: no details

    with STAFF.override("capacity", visibility=Visibility.PERSONAL):
        listed, node, own = await _as_seen_by(app, api, viewer, gid("Staff", plain.id))
        assert listed["capacity"] is None and node["capacity"] is None
        assert own["capacity"] == 160
        admin = _actor(tenant, Role.ADMINISTRATOR, drop={Permit.VIEW_RESTRICTED_STAFF})
        header, rows = await _csv(services, admin)
        assert float(rows["Hidden"]["capacity"]) == 120  # personal now, no longer a detail

    listed, _, _ = await _as_seen_by(app, api, viewer, gid("Staff", plain.id))
    assert listed["capacity"] == 130


async def test_an_address_made_basic_is_shown_to_everyone(app, api, services):
    """Resolvers (address, here) read the table too, on both paths."""
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    staff = await make_staff(services, tenant, last_name="Town", address_city="York")
    query = "{ staff { nodes { id address { city } } } }"
    node_query = "query($id: ID!) { node(id: $id) { ... on Staff { address { city } } } }"

    async def seen() -> tuple:
        nodes = {n["id"]: n for n in (await api.data(query, as_=viewer))["staff"]["nodes"]}
        node = (await api.data(node_query, {"id": gid("Staff", staff.id)}, as_=viewer))["node"]
        return nodes[gid("Staff", staff.id)]["address"], node["address"]

    assert await seen() == (None, None)
    with STAFF.override("address", visibility=Visibility.BASIC):
        assert await seen() == ({"city": "York"}, {"city": "York"})
    assert await seen() == (None, None)


async def test_a_manager_made_a_detail_is_hidden_on_restricted_records(app, api, services):
    """A field the hot plan prefetches (the manager) follows its row too, on both paths."""
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    boss = await make_staff(services, tenant, last_name="Boss")
    staff = await make_staff(
        services, tenant, last_name="Kept", manager_id=boss.id, restricted=True
    )
    staff_id = gid("Staff", staff.id)
    query = "{ staff { nodes { id manager { id } } } }"
    node_query = "query($id: ID!) { node(id: $id) { ... on Staff { manager { id } } } }"

    async def seen() -> tuple:
        answered = _answered(app)
        nodes = {n["id"]: n for n in (await api.data(query, as_=viewer))["staff"]["nodes"]}
        assert _answered(app) == answered + 1
        node = (await api.data(node_query, {"id": staff_id}, as_=viewer))["node"]
        return nodes[staff_id]["manager"], node["manager"]

    managed = {"id": gid("Staff", boss.id)}
    assert await seen() == (managed, managed)
    with STAFF.override("manager_id", visibility=Visibility.DETAILED):
        assert await seen() == (None, None)
    assert await seen() == (managed, managed)
