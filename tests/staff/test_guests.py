"""Guests: customers and vendors see their own record and the name card (name, title, kind)
of the people on their projects, nothing else, on every surface (seed 003); they never
invite; whether they take seats is the account's setting; a blank role makes them.

The world: a guest G (a customer) on project X with P; P reports to M, who is on no project
of G's; O is on project Y only; the owner, an administrator, is on every project (seed 003:
administrators are added to new projects); another account has its own people.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)

from app.access import Role
from app.fields import Visibility
from app.graphql.schema import build_schema
from app.staff.fields import STAFF
from tests.documents import PAGE_QUERY
from tests.factories import (
    Member,
    Tenant,
    error_codes,
    gid,
    make_member,
    make_staff_many,
    make_tenant,
    set_staff_columns,
)

PROJECT = """mutation($name: String!, $ids: [ID!]) {
  projectCreate(input: {name: $name, memberIds: $ids}) { project { id } userErrors { code } }
}"""
LIST = """query($search: String, $filter: StaffFilterInput, $sort: StaffSortKey = LAST_NAME) {
  staff(first: 100, search: $search, filter: $filter, sort: {key: $sort}) {
    totalCount nodes { id fullName } } }"""
CARD = {"id", "sid", "firstName", "lastName", "fullName", "title", "kind"}
# What a viewer tells about themselves, not about the record.
VIEWER_FLAGS = {"viewerCanSeeDetails", "viewerCanSeePersonalData", "viewerCanEdit",
                "viewerCanDelete"}


@dataclass
class World:
    tenant: Tenant
    guest: Member
    peer: str
    manager: str
    outsider: str
    project_x: str
    project_y: str
    other: Tenant
    other_staff: str

    @property
    def seen(self) -> set[str]:
        """Whom the guest sees: themselves and the people on project X."""
        return {self.guest.staff_id, self.peer, self.tenant.owner.staff_id}


async def _world(services, api) -> World:
    tenant = await make_tenant(services)
    guest = await make_member(
        services, tenant, Role.GUEST, kind="CUSTOMER", first_name="Gail", last_name="Guest",
        title="Buyer", company="Client Co",
    )
    manager, peer, outsider = await make_staff_many(
        services,
        tenant,
        [
            dict(first_name="Mona", last_name="Manager", title="Head", company="Us",
                 email="mona@us.io", rate1=300),
            dict(first_name="Pete", last_name="Peer", title="Consultant", company="Us",
                 email="pete@us.io", rate1=150, phone_cell="+1 555 0100", notes="secretive"),
            dict(first_name="Otto", last_name="Outsider", title="Analyst", company="Us",
                 email="otto@us.io"),
        ],
    )
    await set_staff_columns(services, peer.id, manager_id=manager.id)
    x = await api.data(PROJECT, {"name": "X", "ids": [guest.staff_id, gid("Staff", peer.id)]},
                       as_=tenant.owner)
    y = await api.data(PROJECT, {"name": "Y", "ids": [gid("Staff", outsider.id)]},
                       as_=tenant.owner)
    other = await make_tenant(services)
    (stranger,) = await make_staff_many(services, other, [dict(first_name="Stan", last_name="Else")])
    return World(
        tenant, guest, gid("Staff", peer.id), gid("Staff", manager.id),
        gid("Staff", outsider.id), x["projectCreate"]["project"]["id"],
        y["projectCreate"]["project"]["id"], other, gid("Staff", stranger.id),
    )


def _staff_selection() -> tuple[str, dict]:
    """Every field of Staff without arguments, each object field with its id (or name)."""
    schema = build_schema()._schema
    staff = schema.type_map["Staff"]
    assert isinstance(staff, GraphQLObjectType)
    parts, kinds = [], {}
    for name, field in staff.fields.items():
        if field.args and any(isinstance(a.type, GraphQLNonNull) for a in field.args.values()):
            continue
        named = get_named_type(field.type)
        if isinstance(named, GraphQLObjectType):
            sub = "id" if "id" in named.fields else next(iter(
                n for n, f in named.fields.items()
                if isinstance(get_named_type(f.type), GraphQLScalarType) and not f.args
            ), "__typename")
            if name == "directReports":
                sub = "totalCount nodes { id }"
            elif name == "projects":
                sub = "project { id }"
            elif name == "customFields":
                sub = "value"
            parts.append(f"{name} {{ {sub} }}")
        else:
            parts.append(name)
        kinds[name] = field.type
    return " ".join(parts), kinds


def _empty(value) -> bool:
    if value is None or value == []:
        return True
    return isinstance(value, dict) and value.get("totalCount") == 0


async def test_a_guest_sees_only_the_name_card_of_others_field_by_field(api, services):
    w = await _world(services, api)
    selection, kinds = _staff_selection()
    query = f"query($id: ID!) {{ node(id: $id) {{ ... on Staff {{ {selection} }} }} }}"
    peer = (await api.data(query, {"id": w.peer}, as_=w.guest))["node"]
    own = (await api.data(query, {"id": w.guest.staff_id}, as_=w.guest))["node"]
    assert peer["fullName"] == "Pete Peer" and peer["title"] == "Consultant"
    assert peer["kind"] == "EMPLOYEE"
    for name in kinds:
        if name in CARD:
            assert peer[name] not in (None, ""), name
        elif name in VIEWER_FLAGS:
            assert peer[name] is False, name
        else:
            assert _empty(peer[name]), (name, peer[name])
    # Their own record: everything a member sees of themselves.
    assert own["email"] == w.guest.email and own["company"] == "Client Co"
    assert own["role"] == "GUEST" and own["sid"] is not None and own["accountStatus"] == "ACTIVE"
    assert own["projects"] == [{"project": {"id": w.project_x}}]


def test_every_staff_field_a_guest_may_not_see_is_nullable():
    """A guest's view of others nulls whatever is not on the name card, so no such field
    may be non-null in the schema (derived from the field table)."""
    _, kinds = _staff_selection()
    card = {row.api for row in STAFF if row.visibility is Visibility.CARD} | {"id", "fullName"}
    assert card <= CARD
    for name, type_ in kinds.items():
        if name not in CARD and name not in VIEWER_FLAGS and name != "directReports":
            assert not isinstance(type_, GraphQLNonNull) or isinstance(
                type_.of_type, GraphQLList
            ), name


async def test_the_staff_list_search_and_totals_hold_only_the_guests_project_people(
    api, services
):
    w = await _world(services, api)
    data = await api.data(LIST, {}, as_=w.guest)
    assert {n["id"] for n in data["staff"]["nodes"]} == w.seen
    assert data["staff"]["totalCount"] == 3
    for search, found in (("Pete", 1), ("Otto", 0), ("Mona", 0), ("Consultant", 1),
                          ("Us", 0), ("pete@us.io", 0), ("Client", 0), ("viewer", 0)):
        data = await api.data(LIST, {"search": search}, as_=w.guest)
        assert data["staff"]["totalCount"] == found, search
    # The hot plan's own document answers the same for a guest.
    body = await api.data(PAGE_QUERY, {"first": 50}, as_=w.guest)
    ids = {e["node"]["id"] for e in body["staff"]["edges"]}
    assert ids == w.seen


@pytest.mark.parametrize(
    "variables",
    [
        {"filter": {"roles": ["VIEWER"]}},
        {"filter": {"company": "Us"}},
        {"filter": {"accountStatuses": ["ACTIVE"]}},
        {"filter": {"includeDisabled": True}},
        {"filter": {"includeInactive": True}},
        {"filter": {"managerId": "U3RhZmY6MQ=="}},
        {"sort": "COMPANY"},
        {"sort": "CREATED_AT"},
        {"sort": "ROLE"},
        {"sort": "EMAIL"},
    ],
)
async def test_guests_filter_and_sort_only_by_the_name_card(api, services, variables):
    w = await _world(services, api)
    body = await api(LIST, variables, as_=w.guest)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert "Guests may not" in body["errors"][0]["message"] or "needs" in body["errors"][0][
        "message"
    ]


async def test_card_filters_and_sorts_work_for_guests(api, services):
    w = await _world(services, api)
    for variables in ({"filter": {"kinds": ["CUSTOMER"]}}, {"sort": "FIRST_NAME"},
                      {"sort": "TITLE"}):
        data = await api.data(LIST, variables, as_=w.guest)
        assert data["staff"]["totalCount"] in (1, 3), variables
    # the record's number is on the card: a guest finds by it only whom they see
    data = await api.data(LIST, {"filter": {"sids": [1, 2, 3, 4, 5, 6, 7]}}, as_=w.guest)
    assert {n["id"] for n in data["staff"]["nodes"]} == w.seen


async def test_others_are_not_found_by_node_sid_or_project(api, services):
    w = await _world(services, api)
    node = "query($id: ID!) { node(id: $id) { id } }"
    for hidden in (w.outsider, w.manager, w.other_staff, w.project_y):
        assert (await api.data(node, {"id": hidden}, as_=w.guest))["node"] is None
    assert (await api.data(node, {"id": w.project_x}, as_=w.guest))["node"] == {
        "id": w.project_x
    }
    by_sid = "query($sid: Int!) { staffBySid(sid: $sid) { id } }"
    sids = await api.data("{ staff(first: 100) { nodes { id sid } } }", as_=w.tenant.owner)
    for n in sids["staff"]["nodes"]:
        found = (await api.data(by_sid, {"sid": n["sid"]}, as_=w.guest))["staffBySid"]
        assert (found is not None) == (n["id"] in w.seen), n
    projects = await api.data(
        "{ projects { id members { staff { id fullName email sid } } } }", as_=w.guest
    )
    assert [p["id"] for p in projects["projects"]] == [w.project_x]
    members = {m["staff"]["id"]: m["staff"] for m in projects["projects"][0]["members"]}
    assert set(members) == w.seen
    # The record's number is on the name card (the key integrations address it by);
    # personal data is not.
    assert members[w.peer]["email"] is None and members[w.peer]["sid"] is not None
    peer_sid = members[w.peer]["sid"]
    found = (await api.data(by_sid, {"sid": peer_sid}, as_=w.guest))["staffBySid"]
    assert found == {"id": w.peer}


async def test_manager_and_reporting_chain_follow_the_guest_rule(api, services):
    w = await _world(services, api)
    chain = """query($id: ID!) { node(id: $id) { ... on Staff {
        manager { id fullName } reportingChain { id fullName } } } }"""
    # The peer's manager is not on the peer's name card.
    data = await api.data(chain, {"id": w.peer}, as_=w.guest)
    assert data["node"] == {"manager": None, "reportingChain": None}
    # Their own manager: shown only where they see that record.
    from app.graphql.ids import decode_id

    await set_staff_columns(services, w.guest.staff_pk, manager_id=decode_id(w.manager, "Staff"))
    data = await api.data(chain, {"id": w.guest.staff_id}, as_=w.guest)
    assert data["node"] == {"manager": None, "reportingChain": []}
    await set_staff_columns(services, w.guest.staff_pk, manager_id=decode_id(w.peer, "Staff"))
    data = await api.data(chain, {"id": w.guest.staff_id}, as_=w.guest)
    assert data["node"]["manager"] == {"id": w.peer, "fullName": "Pete Peer"}
    # The chain stops at the peer: whose manager the guest does not see.
    assert data["node"]["reportingChain"] == [{"id": w.peer, "fullName": "Pete Peer"}]
    # The page's manager join does not show it either.
    listed = await api.data("{ staff(first: 10) { nodes { id manager { id } } } }", as_=w.guest)
    by_id = {n["id"]: n["manager"] for n in listed["staff"]["nodes"]}
    assert by_id == {w.guest.staff_id: {"id": w.peer}, w.peer: None, w.tenant.owner.staff_id: None}


async def test_account_level_surfaces_are_closed_to_guests(api, services):
    w = await _world(services, api)
    await api.data(
        "mutation { accountUpdate(input: {everyoneCanInvite: true}) { userErrors { code } } }",
        as_=w.tenant.owner,
    )
    for query in (
        "{ customFields { id } }",
        "{ account { seats { used } } }",
        "{ invitations(first: 5) { edges { node { id } } } }",
        "{ auditLog(first: 5) { edges { node { id } } } }",
    ):
        body = await api(query, as_=w.guest)
        assert "FORBIDDEN" in error_codes(body), (query, body)
    invite = await api(
        """mutation { invitationCreate(input: {email: "friend@client.co"}) {
            invitation { id } userErrors { code } } }""",
        as_=w.guest,
    )
    assert error_codes(invite) == ["FORBIDDEN"], invite
    values = await api.data("{ customFieldValues { staff { id } } }", as_=w.guest)
    assert all(v["staff"]["id"] == w.guest.staff_id for v in values["customFieldValues"])
    viewer = await api.data("{ viewer { staff { id role } account { name } } }", as_=w.guest)
    assert viewer["viewer"]["staff"] == {"id": w.guest.staff_id, "role": "GUEST"}


# --- a blank role, kinds on invitations and join links ---------------------------------

CREATE_STAFF = """mutation($input: StaffCreateInput!) {
  staffCreate(input: $input) { staff { id role kind } userErrors { field code } } }"""


@pytest.mark.parametrize(
    ("kind", "role", "expected"),
    [
        ("CUSTOMER", None, "GUEST"),
        ("VENDOR", None, "GUEST"),
        ("EMPLOYEE", None, "VIEWER"),
        ("CONTRACTOR", None, "VIEWER"),
        ("CUSTOMER", "VIEWER", "VIEWER"),
        ("EMPLOYEE", "GUEST", "GUEST"),
    ],
)
async def test_a_blank_role_means_guest_for_customers_and_vendors(
    api, services, kind, role, expected
):
    tenant = await make_tenant(services)
    fields = {"firstName": "New", "lastName": "Person", "kind": kind}
    if role:
        fields["role"] = role
    data = await api.data(CREATE_STAFF, {"input": fields}, as_=tenant.owner)
    assert data["staffCreate"]["userErrors"] == []
    assert data["staffCreate"]["staff"]["role"] == expected


INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) {
    invitation { role staff { id kind role } } userErrors { field code } } }"""
SEATS = """{ account { seats {
  limit used reserved available guests guestsReserved guestsTakeSeats } } }"""


async def test_guests_take_no_seat_unless_the_account_says_so(api, services):
    tenant = await make_tenant(services, seats=2)
    await make_member(services, tenant, Role.VIEWER)  # the account is now full
    full = await api.data(
        INVITE, {"input": {"email": "viewer@us.io"}}, as_=tenant.owner
    )
    assert [e["code"] for e in full["invitationCreate"]["userErrors"]] == ["SEAT_LIMIT_REACHED"]
    invited = await api.data(
        INVITE, {"input": {"email": "buyer@client.co", "kind": "VENDOR"}}, as_=tenant.owner
    )
    payload = invited["invitationCreate"]
    assert payload["userErrors"] == []
    assert payload["invitation"]["role"] == "GUEST"
    assert payload["invitation"]["staff"]["kind"] == "VENDOR"
    await make_member(services, tenant, Role.GUEST, kind="CUSTOMER")
    seats = (await api.data(SEATS, as_=tenant.owner))["account"]["seats"]
    assert seats == {"limit": 2, "used": 2, "reserved": 0, "available": 0, "guests": 1,
                     "guestsReserved": 1, "guestsTakeSeats": False}
    # Counting guests would overbook: refused, nothing changes.
    update = """mutation($take: Boolean!) { accountUpdate(input: {guestsTakeSeats: $take}) {
        account { settings { guestsTakeSeats } } userErrors { field code } } }"""
    body = await api.data(update, {"take": True}, as_=tenant.owner)
    assert [e["code"] for e in body["accountUpdate"]["userErrors"]] == ["PLAN_TOO_SMALL"]
    assert (await api.data(SEATS, as_=tenant.owner))["account"]["seats"]["guestsTakeSeats"] is False


async def test_only_the_owner_makes_guests_take_seats(api, services):
    tenant = await make_tenant(services, seats=10)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    await make_member(services, tenant, Role.GUEST, kind="CUSTOMER")
    update = """mutation { accountUpdate(input: {guestsTakeSeats: true}) {
        account { settings { guestsTakeSeats } } userErrors { field code } } }"""
    body = await api.data(update, as_=admin)
    assert [e["code"] for e in body["accountUpdate"]["userErrors"]] == ["FORBIDDEN"]
    body = await api.data(update, as_=tenant.owner)
    assert body["accountUpdate"]["account"]["settings"]["guestsTakeSeats"] is True
    seats = (await api.data(SEATS, as_=tenant.owner))["account"]["seats"]
    assert (seats["used"], seats["guests"]) == (3, 1)  # owner, administrator and the guest


async def test_a_guest_made_a_viewer_needs_a_free_seat(api, services):
    tenant = await make_tenant(services, seats=1)
    guest = await make_member(services, tenant, Role.GUEST, kind="CUSTOMER")
    change = """mutation($id: ID!, $role: Role!) { staffRoleChange(input: {staffId: $id,
        role: $role}) { staff { role } userErrors { code } } }"""
    body = await api.data(change, {"id": guest.staff_id, "role": "VIEWER"}, as_=tenant.owner)
    assert [e["code"] for e in body["staffRoleChange"]["userErrors"]] == ["SEAT_LIMIT_REACHED"]
    await api.data(
        "mutation { accountPlanChange(input: {plan: CUSTOM, seatLimit: 2}) { userErrors { code } } }",
        as_=tenant.owner,
    )
    body = await api.data(change, {"id": guest.staff_id, "role": "VIEWER"}, as_=tenant.owner)
    assert body["staffRoleChange"]["staff"]["role"] == "VIEWER"


async def test_a_customer_join_link_makes_guests(api, services):
    from tests.invitations.test_join_links import create_ok, join

    tenant = await make_tenant(services)
    token, link = await create_ok(api, tenant.owner, kind="CUSTOMER")
    assert link["role"] == "GUEST"
    outcome = await join(api, token, "customer@client.co")
    assert outcome["userErrors"] == []
    listed = await api.data(
        """{ staff(first: 10, filter: {kinds: [CUSTOMER], includeDisabled: true}) {
            nodes { role kind } } }""",
        as_=tenant.owner,
    )
    assert listed["staff"]["nodes"] == [{"role": "GUEST", "kind": "CUSTOMER"}]


# --- what a guest may change ------------------------------------------------------------

GUEST_MUTATIONS = {
    "staffCreate": "DENIED",
    "staffShare": "DENIED",
    "staffUnshare": "DENIED",
    "staffPermitGrant": "DENIED",
    "staffPermitRevoke": "DENIED",
    "staffStatusCreate": "DENIED",
    "staffStatusUpdate": "DENIED",
    # an API key reaches only what its scopes name of its creator's permits, and a guest
    # holds none a scope could name: guests use the apps, not integrations
    "apiTokenCreate": "REFUSED",
}


@pytest.mark.parametrize(("op", "expected"), GUEST_MUTATIONS.items())
async def test_guest_mutation_matrix(api, services, op, expected):
    from tests.staff.test_access import run_mutation

    tenant = await make_tenant(services)
    guest = await make_member(services, tenant, Role.GUEST, kind="VENDOR")
    got, written = await run_mutation(op, api, services, tenant, guest)
    assert got == expected
    assert written == (expected == "OK")


UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { staff { id title phoneCell } userErrors { field code } } }"""


async def test_a_guest_edits_their_own_personal_data_and_nothing_else(api, services):
    w = await _world(services, api)
    own = await api.data(
        UPDATE, {"input": {"id": w.guest.staff_id, "phoneCell": "+1 555 0199"}}, as_=w.guest
    )
    assert own["staffUpdate"]["userErrors"] == []
    assert own["staffUpdate"]["staff"]["phoneCell"] == "+1 555 0199"
    title = await api.data(UPDATE, {"input": {"id": w.guest.staff_id, "title": "Boss"}},
                           as_=w.guest)
    assert [e["code"] for e in title["staffUpdate"]["userErrors"]] == ["FORBIDDEN"]
    # A peer's record: seen (its name card) but not editable; others are not found.
    peer = await api.data(UPDATE, {"input": {"id": w.peer, "title": "Boss"}}, as_=w.guest)
    assert [e["code"] for e in peer["staffUpdate"]["userErrors"]] == ["FORBIDDEN"]
    for hidden in (w.outsider, w.other_staff):
        body = await api.data(UPDATE, {"input": {"id": hidden, "title": "Boss"}}, as_=w.guest)
        assert [e["code"] for e in body["staffUpdate"]["userErrors"]] == ["NOT_FOUND"]
