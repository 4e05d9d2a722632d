"""GET /export/staff.csv (the account's backup: tests/accounts/test_backup.py)."""

from __future__ import annotations

import asyncio
import csv
import io
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.access import Role
from app.staff.export import FORMULA_PREFIXES, neutralise, plain
from app.staff.models import AccountStatus
from tests.factories import (
    SSN,
    Member,
    insert_staff_rows,
    make_custom_field,
    make_member,
    make_people,
    make_staff,
    make_tenant,
    member_as,
    set_custom_value,
    set_staff_columns,
    share_staff_with,
)

ROOT = Path(__file__).resolve().parents[2]
PERSONAL_COLUMNS = [
    "email",
    "phoneCell",
    "phoneWork",
    "phoneHome",
    "addressStreet",
    "addressCity",
    "addressState",
    "addressZip",
    "addressCountry",
    "ssn",
    "salary",
]
DETAIL_COLUMNS = ["capacity", "startDate", "homeTimezone", "ssn", "salary"]


def headers(member: Member, *, style: str = "bearer") -> dict:
    if style == "bearer":
        return {"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm}
    return {"X-Auth-Token": member.token, "X-Auth-Realm": member.realm}


async def staff_csv(client, member: Member, **kw) -> tuple[list[str], dict[str, dict]]:
    """The header row and the rows by lastName."""
    response = await client.get("/export/staff.csv", headers=headers(member, **kw))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "charset=utf-8" in response.headers["content-type"].lower()
    text = response.content.decode("utf-8-sig")  # a BOM is allowed, nothing but UTF-8
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), {r["lastName"]: r for r in rows}


# --- staff.csv ---


async def test_staff_csv_is_utf8_with_a_header_row_and_every_staff_member(client, services):
    tenant = await make_tenant(services)
    await make_staff(services, tenant, first_name="Zoë", last_name="Ångström", title="Ünïcode")
    await make_staff(services, tenant, first_name="Bo", last_name="Other")
    gone = await make_member(services, tenant, Role.VIEWER, last_name="Disabled")
    await set_staff_columns(services, gone.staff_pk, account_status=AccountStatus.DISABLED)
    await make_staff(services, tenant, first_name="In", last_name="Active", is_inactive=True)

    for style in ("bearer", "x-auth-token"):
        response = await client.get(
            "/export/staff.csv?search=Ångström&first=1", headers=headers(tenant.owner, style=style)
        )
        assert response.status_code == 200
        response.content.decode("utf-8")  # strictly UTF-8
        header, rows = await staff_csv(client, tenant.owner, style=style)
        assert header[:3] == ["sid", "firstName", "lastName"]
        [owner] = [name for name, row in rows.items() if row["role"] == "OWNER"]
        assert set(rows) - {owner} == {"Ångström", "Other", "Disabled", "Active"}
        assert rows["Ångström"]["firstName"] == "Zoë"
        assert rows["Ångström"]["title"] == "Ünïcode"
        assert rows["Disabled"]["accountStatus"] == "DISABLED"
        assert len({r["sid"] for r in rows.values()}) == 5


async def test_staff_csv_of_one_realm_only(client, services):
    mine = await make_tenant(services)
    theirs = await make_tenant(services)
    await make_staff(services, mine, last_name="Mine")
    await make_staff(services, theirs, last_name="Theirs")
    _, rows = await staff_csv(client, mine.owner)
    assert "Mine" in rows and "Theirs" not in rows


async def test_staff_csv_needs_authentication(client, services):
    tenant = await make_tenant(services)
    assert (await client.get("/export/staff.csv")).status_code == 401
    bad = await client.get(
        "/export/staff.csv", headers={"Authorization": "Bearer nope", "X-Auth-Realm": tenant.slug}
    )
    assert bad.status_code == 401
    assert bad.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    other = await make_tenant(services)
    foreign_realm = await client.get(
        "/export/staff.csv",
        headers={"Authorization": f"Bearer {tenant.owner.token}", "X-Auth-Realm": other.slug},
    )
    assert foreign_realm.status_code == 401
    assert "Owner" not in foreign_realm.text


@pytest.fixture
async def people(services):
    return await make_people(services)


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        ("VIEWER", False),
        ("VIEWER+PD", False),
        ("EDITOR", False),
        ("EDITOR+PD", False),
        ("ADMINISTRATOR", True),
        ("OWNER", True),
    ],
)
async def test_staff_csv_is_for_administrators_with_every_column(api, client, services, people,
                                                                 key, allowed):  # fmt: skip
    """Exports are for administrators (MANAGE_ACCOUNT), like the account backup; they see
    every column, personal ones included."""
    tenant, _, _ = people
    member = await member_as(api, services, tenant, key)
    if not allowed:
        response = await client.get("/export/staff.csv", headers=headers(member))
        assert response.status_code == 403
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "Pip" not in response.text
        return
    header, rows = await staff_csv(client, member)
    assert "Nickname" in header
    assert rows["Plain"]["Nickname"] == "Pip"
    assert rows["Plain"]["title"] == "Engineer"
    assert rows["Plain"]["capacity"] in ("120", "120.0", "120.00")
    assert set(PERSONAL_COLUMNS) <= set(header) and "Shoe size" in header
    assert rows["Plain"]["email"] == "pia.plain@example.com"
    assert rows["Plain"]["phoneCell"] == "'+1 555 0101"  # neutralised, see below
    assert rows["Plain"]["addressStreet"] == "1 Main St"
    assert rows["Plain"]["ssn"] == SSN
    assert float(rows["Plain"]["salary"]) == 85123.45
    assert rows["Plain"]["Shoe size"] == "EU 38"


async def test_restricted_records_are_exported_to_administrators_only(api, client, services,
                                                                      people):  # fmt: skip
    tenant, _, secret = people
    viewer = await member_as(api, services, tenant, "VIEWER+PD")
    await share_staff_with(services, tenant, secret.id, viewer.staff_pk)
    refused = await client.get("/export/staff.csv", headers=headers(viewer))
    assert refused.status_code == 403 and "999-88-7777" not in refused.text

    _, admin_rows = await staff_csv(client, tenant.owner)
    shown = admin_rows["Restricted"]
    assert shown["homeTimezone"] == "Europe/Paris"
    assert shown["ssn"] == "999-88-7777"
    assert shown["Nickname"] == "Rexy" and shown["Shoe size"] == "EU 45"


FORMULAS = ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)"]


async def test_formula_cells_are_neutralised(client, services):
    tenant = await make_tenant(services)
    field = await make_custom_field(services, tenant, "=Danger")
    staff = await make_staff(
        services, tenant, first_name=FORMULAS[0], last_name="Formula", title=FORMULAS[1],
        company=FORMULAS[2], notes=FORMULAS[3], email="@handle", phone_cell="-5",
    )  # fmt: skip
    await set_custom_value(services, tenant, staff.id, field.id, "=1+1")
    header, rows = await staff_csv(client, tenant.owner)
    row = rows["Formula"]
    assert row["firstName"] == "'" + FORMULAS[0]
    assert row["title"] == "'" + FORMULAS[1]
    assert row["company"] == "'" + FORMULAS[2]
    assert row["notes"] == "'" + FORMULAS[3]
    assert row["email"] == "'@handle"
    assert row["phoneCell"] == "'-5"
    assert "'=Danger" in header and row["'=Danger"] == "'=1+1"
    for record in rows.values():
        for value in record.values():
            assert not (value or "").startswith(("=", "+", "-", "@")), value


@given(st.text())
@example("'=x is literal")
@example("''+1")
@example("'\t")
@example("'")
@example("'plain")
@example("=1+1")
def test_plain_undoes_neutralise_for_every_text(text):
    cell = neutralise(text)
    assert plain(cell) == text
    # and the cell is still safe: a formula character comes after an apostrophe only
    assert cell[:1] == "'" or not cell.startswith(FORMULA_PREFIXES)


def test_text_that_reads_as_neutralised_is_neutralised_again():
    # apostrophes, then a formula character: the import drops one apostrophe
    assert neutralise("'=x is literal") == "''=x is literal"
    assert neutralise("''-1") == "'" + "''-1"
    assert neutralise("'plain") == "'plain"  # nothing the import would drop


# --- 10,000 staff, streamed ---

N = 10_000


def http_scope(method: str, path: str, headers: dict) -> dict:
    """The ASGI scope of a request to the app under test (``roster.test``)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"roster.test")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("roster.test", 80),
    }


async def stream_get(app, path: str, headers: dict, on_chunk) -> tuple[int, int]:
    """GET ``path`` straight through the ASGI app, handing each body chunk to ``on_chunk``
    and keeping none of them; returns (status, number of body chunks)."""
    scope = http_scope("GET", path, headers)
    done = asyncio.Event()
    sent_request = False
    status, chunks = 0, 0

    async def receive():
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status, chunks
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            if message.get("body"):
                chunks += 1
                on_chunk(message["body"])
            if not message.get("more_body"):
                done.set()

    await app(scope, receive, send)
    done.set()
    return status, chunks


async def test_export_of_10000_staff_is_complete_streamed_and_bounded(app, services):
    tenant = await make_tenant(services)
    rows = [
        {
            "first_name": "=SUM(A1:A9)" if i % 1000 == 0 else f"First{i}",
            "last_name": f"Last{i:05d}",
            "title": "Consultant",
            "email": f"person{i}@example.com",
            "notes": "Lorem ipsum dolor sit amet, consectetur adipiscing elit " * 2,
        }
        for i in range(N)
    ]
    sids = await insert_staff_rows(services, tenant, rows)

    seen: set[int] = set()
    formulas = {"raw": 0, "neutralised": 0}
    state = {"carry": "", "header": None}

    def on_chunk(body: bytes) -> None:
        text = state["carry"] + body.decode("utf-8")
        lines = text.split("\r\n")
        state["carry"] = lines.pop()
        for record in csv.reader(lines):
            if state["header"] is None:
                state["header"] = [h.lstrip("\ufeff") for h in record]
                continue
            seen.add(int(record[0]))
            first = record[1]
            formulas["raw"] += first.startswith("=")
            formulas["neutralised"] += first == "'=SUM(A1:A9)"

    tracemalloc.start()
    try:
        status, chunks = await stream_get(app, "/export/staff.csv", headers(tenant.owner), on_chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert status == 200
    assert state["carry"] == ""
    assert state["header"][:3] == ["sid", "firstName", "lastName"]
    assert "email" in state["header"]
    assert seen == set(sids) | {1}  # every inserted row, plus the owner
    assert formulas == {"raw": 0, "neutralised": N // 1000}
    assert chunks > 1, "the export is streamed, not built in memory first"
    # Loading these 10,000 rows at once takes about 35 MB of traced memory (the CSV text
    # alone is about 3 MB); streaming a batch at a time stays near 5 MB.
    assert peak < 15 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
