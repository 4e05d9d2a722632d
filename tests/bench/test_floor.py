"""The benchmark's floor (bench/floor.py) answers exactly what Roster answers, byte for byte,
for every document of the suite it serves, as an administrator and as a viewer, on each
database; and the suite's tour documents are the README's, verbatim."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import orjson
import pytest

from bench import floor
from bench.seed import _seed_account
from bench.suite import Caller, _graphql, add_viewer, cases, context_of, through_the_api
from bench.suite_documents import ADMIN, SUITE, TOUR, VIEWER

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
async def callers(services) -> dict[str, Caller]:
    account = await _seed_account(services.db, services.passwords, 120)
    viewer_token = await add_viewer(services.db, services.passwords, account)
    return {
        ADMIN: Caller(ADMIN, account.admin_token, account.slug),
        VIEWER: Caller(VIEWER, viewer_token, account.slug),
    }


@pytest.fixture
async def floor_client(database_url, callers):
    """Opened once Roster has set the database up (SQLite: in WAL mode, as Roster runs it)."""
    app = floor.create_app(database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://floor") as client:
            yield client


async def test_floor_answers_what_roster_answers(client, floor_client, callers):
    await through_the_api(client, callers[ADMIN])
    context = await context_of(client, callers[ADMIN])
    served = [
        (doc, caller, body)
        for doc, caller, body in cases(context, callers)
        if floor.serves(orjson.loads(body))
    ]
    assert {doc.name for doc, _, _ in served} >= {
        "page",
        "page + totalCount",
        "two fields",
        "fragments + variables",
        "page 3 (after)",
        "search",
        "node",
        "viewer",
        "invitations",
        "audit log",
        *(doc.name for doc in SUITE if doc.query in TOUR),
    }
    for doc, caller, body in served:
        headers = {**caller.headers, "Content-Type": "application/json"}
        roster = await client.post("/graphql", content=body, headers=headers)
        by_hand = await floor_client.post("/graphql", content=body, headers=headers)
        assert b'"errors"' not in roster.content, (doc.name, caller.role, roster.text)
        assert roster.content == by_hand.content, (doc.name, caller.role)
        assert int(by_hand.headers["x-floor-statements"]) >= 1


async def test_the_viewer_sees_less_than_the_administrator(client, floor_client, callers):
    """The suite's two roles differ where the field rules say: the viewer's page has no
    personal data and no details of restricted records (so the floor does that work too)."""
    page = next(doc for doc in SUITE if doc.name == "page")
    answers = {}
    for role, caller in callers.items():
        body = orjson.dumps(page.body({}))
        out = await floor_client.post("/graphql", content=body, headers=caller.headers)
        answers[role] = out.json()["data"]["staff"]["edges"]
    admin = [e["node"] for e in answers[ADMIN]]
    viewer = [e["node"] for e in answers[VIEWER]]
    assert all(n["email"] for n in admin)
    assert not any(n["email"] for n in viewer)
    restricted = [n for n in viewer if n["restricted"]]
    assert restricted and all(n["customFields"] is None for n in restricted)
    assert all(n["customFields"] is not None for n in viewer if not n["restricted"])


def test_the_tour_documents_are_the_readmes():
    blocks = re.findall(r"```graphql\n(.*?)```", README.read_text(), re.S)
    for document in TOUR:
        assert document + "\n" in blocks


SETUP = """query Setup {
  listed: staff(first: 5, search: "engineer", filter: {kinds: [EMPLOYEE]}) { nodes { id } }
  chief: staffBySid(sid: 2) { id }
  others: staff(first: 8, filter: {kinds: [CONTRACTOR]}) { nodes { id } }
}"""
ME = "query Me { viewer { staff { id } } }"
STATUS = """mutation Status($name: String!) {
  staffStatusCreate(input: {name: $name}) { status { id } userErrors { message } }
}"""
ARCHIVE = """mutation Archive($id: ID!) {
  staffStatusUpdate(input: {id: $id, archived: true}) { status { id } userErrors { message } }
}"""
FIELD = """mutation Field($name: String!, $type: CustomFieldType!, $options: [String!],
                      $personal: Boolean!) {
  customFieldCreate(input: {name: $name, type: $type, options: $options, personal: $personal}) {
    customField { id } userErrors { message }
  }
}"""
VALUES = """mutation Values($id: ID!, $values: [CustomFieldValueInput!]!) {
  staffCustomFieldsSet(input: {staffId: $id, values: $values}) {
    staff { id } userErrors { message }
  }
}"""
CHANGE = """mutation Change($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { staff { id } userErrors { message } }
}"""
GUEST = """mutation Guest {
  invitationCreate(input: {email: "guest@bench.example", role: GUEST, kind: CUSTOMER}) {
    invitation { id } userErrors { message }
  }
}"""
SHARE = """mutation Share($id: ID!, $with: ID!) {
  staffShare(input: {staffId: $id, sharedWithId: $with}) { staff { id } userErrors { message } }
}"""


async def _done(client, caller, query, **variables) -> dict:
    data = await _graphql(client, caller, query, **variables)
    for payload in data.values():
        assert not (payload or {}).get("userErrors"), data
    return data


async def test_the_floor_answers_the_tour_on_richer_data(client, floor_client, callers):
    """The tour's documents where the seeded data leaves them thin: restricted and shared
    records, statuses (one archived) and custom fields (one personal, one of choices) in
    the directory, a reporting chain and direct reports for the chart."""
    admin, viewer = callers[ADMIN], callers[VIEWER]
    await through_the_api(client, admin)
    ids = await _graphql(client, admin, SETUP)
    listed = [n["id"] for n in ids["listed"]["nodes"]]
    chief = ids["chief"]["id"]
    others = [n["id"] for n in ids["others"]["nodes"]]
    me = (await _graphql(client, viewer, ME))["viewer"]["staff"]["id"]
    leave = (await _done(client, admin, STATUS, name="On leave"))["staffStatusCreate"]
    ended = (await _done(client, admin, STATUS, name="Contract ended"))["staffStatusCreate"]
    await _done(client, admin, ARCHIVE, id=ended["status"]["id"])
    shirt = await _done(
        client, admin, FIELD, name="T-shirt size", type="CHOICE", options=["S", "M", "L"],
        personal=False,
    )
    allergies = await _done(
        client, admin, FIELD, name="Allergies", type="TEXT", options=None, personal=True
    )
    shirt_id = shirt["customFieldCreate"]["customField"]["id"]
    allergies_id = allergies["customFieldCreate"]["customField"]["id"]
    for i, staff_id in enumerate(listed):
        values = [{"fieldId": shirt_id, "value": "SML"[i % 3]}]
        if i < 2:
            values.append({"fieldId": allergies_id, "value": "Peanuts"})
        await _done(client, admin, VALUES, id=staff_id, values=values)
    for i in (0, 1):
        await _done(
            client, admin, CHANGE, input={"id": listed[i], "statusId": leave["status"]["id"]}
        )
    for i in (1, 3):
        await _done(client, admin, CHANGE, input={"id": listed[i], "restricted": True})
    await _done(client, admin, SHARE, id=listed[3], **{"with": me})
    await _done(client, admin, GUEST)  # pending, but takes no seat: guests take none here
    # the chart: record 2 reports to a restricted record, which reports to one at the top;
    # five report to record 2
    await _done(client, admin, CHANGE, input={"id": others[1], "managerId": None})
    await _done(client, admin, CHANGE, input={"id": others[0], "restricted": True})
    await _done(client, admin, CHANGE, input={"id": others[0], "managerId": others[1]})
    await _done(client, admin, CHANGE, input={"id": chief, "managerId": others[0]})
    for staff_id in others[2:7]:
        await _done(client, admin, CHANGE, input={"id": staff_id, "managerId": chief})

    answers = {}
    for doc in SUITE:
        if doc.query not in TOUR:
            continue
        for caller in (admin, viewer):
            body = orjson.dumps(doc.body({}))
            headers = {**caller.headers, "Content-Type": "application/json"}
            roster = await client.post("/graphql", content=body, headers=headers)
            if caller is viewer and b'"errors"' in roster.content:
                continue  # the invitations and the audit log are the administrators'
            by_hand = await floor_client.post("/graphql", content=body, headers=headers)
            assert b'"errors"' not in roster.content, (doc.name, caller.role, roster.text)
            assert roster.content == by_hand.content, (doc.name, caller.role)
            answers[doc.name, caller.role] = orjson.loads(by_hand.content)["data"]

    # what the data above was for: the two roles see different things
    nodes = {
        role: [e["node"] for e in answers["tour: directory", role]["staff"]["edges"]]
        for role in (ADMIN, VIEWER)
    }
    assert [n["status"] for n in nodes[ADMIN][:2]] == [{"name": "On leave"}] * 2
    assert nodes[VIEWER][1]["customFields"] is None and nodes[VIEWER][1]["status"] is None
    assert nodes[VIEWER][3]["viewerCanSeeDetails"]  # shared with the viewer
    assert any(v["field"]["name"] == "Allergies" for v in nodes[ADMIN][0]["customFields"])
    assert not any(v["field"]["name"] == "Allergies" for v in nodes[VIEWER][0]["customFields"])
    chart = answers["tour: chart", ADMIN]["staffBySid"]
    assert len(chart["reportingChain"]) == 2
    assert chart["directReports"]["totalCount"] == 5
    assert len(chart["directReports"]["nodes"]) == 3
    shirts = answers["tour: custom fields", ADMIN]["customFieldValues"]
    assert len(shirts) == 5 > len(answers["tour: custom fields", VIEWER]["customFieldValues"])
    pending = answers["tour: invitations", ADMIN]
    assert len(pending["invitations"]["edges"]) == 6
    assert pending["account"]["seats"]["reserved"] == 5
    statuses = answers["tour: picklists", VIEWER]["picklists"]["staffStatuses"]
    assert [s["archived"] for s in statuses] == [True, False]
