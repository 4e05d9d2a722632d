"""What a staffImport may cost: one per operation (its rows are checked inside the
document's one write transaction, so thirty aliased imports of one shared ``$csv`` were
thirty files' checks in one request), and a per-account allowance of rows an hour
(``staff_import_rows_account``), counted before the import runs, dry runs and failed
imports included, and only for who may import."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select

from app.access import Role
from app.security.models import RateLimitBucket
from app.security.rate_limits import Limit
from app.staff import bulk_import
from tests.factories import error_codes, make_member, make_tenant
from tests.security.live import live_server
from tests.staff.test_bulk_import import IMPORT, run, staff_count, to_csv
from tests.staff.test_import_upload import _auth, _multipart, _rows

LIMIT = "staff_import_rows_account"
HOUR = timedelta(hours=1)


def people(n: int, last: str = "Imported") -> str:
    return to_csv([{"firstName": "Ann", "lastName": f"{last}{i}"} for i in range(n)])


async def counted(services) -> int:
    """Rows counted against every account's allowance."""
    async with services.db.session() as session:
        total = await session.scalar(
            select(func.sum(RateLimitBucket.count)).where(
                RateLimitBucket.key.startswith(f"{LIMIT}:")
            )
        )
        return total or 0


async def test_two_imports_in_one_operation_are_refused_before_anything_runs(api, services):
    tenant = await make_tenant(services)
    before = await staff_count(services, tenant.account_id)
    fields = "applied created userErrors { code }"
    for document in (
        # aliases sharing one variable
        "mutation($csv: String!) {"
        f" a: staffImport(input: {{csv: $csv, apply: true}}) {{ {fields} }}"
        f" b: staffImport(input: {{csv: $csv, apply: true}}) {{ {fields} }} }}",
        # an import beside another slow field
        "mutation($csv: String!) {"
        f" staffImport(input: {{csv: $csv, apply: true}}) {{ {fields} }}"
        ' login(input: {email: "x@example.com", password: "x"}) { token } }',
        # through a fragment
        "mutation($csv: String!) { ...F"
        f" b: staffImport(input: {{csv: $csv, apply: true}}) {{ {fields} }} }}"
        " fragment F on Mutation {"
        f" a: staffImport(input: {{csv: $csv, apply: true}}) {{ {fields} }} }}",
    ):
        body = await api(document, {"csv": people(3)}, as_=tenant.owner)
        assert body.get("data") is None, body
        assert set(error_codes(body)) == {"BAD_USER_INPUT"}, body
        assert all("send them as separate requests" in e["message"] for e in body["errors"])
        assert "staffImport" in body["errors"][0]["message"]
    assert await staff_count(services, tenant.account_id) == before
    assert await counted(services) == 0
    # one at a time, they run
    report = await run(api, tenant.owner, people(3), apply=True)
    assert (report["applied"], report["created"]) == (True, 3)


async def test_rows_past_the_hourly_allowance_are_refused_and_nothing_is_written(api, services):
    services.limiter.limits[LIMIT] = Limit(4, HOUR)
    tenant, other = await make_tenant(services), await make_tenant(services)
    before = await staff_count(services, tenant.account_id)
    # a dry run counts its rows: it checks them as an apply does
    assert (await run(api, tenant.owner, people(2)))["created"] == 2
    # a failed import counts as well (its rows were checked): here a row in error ...
    bad = to_csv([{"firstName": "Ann", "lastName": "A"}, {"firstName": "Bob", "lastName": ""}])
    failed = await run(api, tenant.owner, bad, apply=True)
    assert (failed["applied"], failed["failed"]) == (False, 1), failed
    assert await counted(services) == 4
    # ... so one row more is past the allowance: refused before it runs
    refused = await api(IMPORT, {"csv": people(1, "Late"), "apply": True}, as_=tenant.owner)
    assert error_codes(refused) == ["RATE_LIMITED"], refused
    assert refused["errors"][0]["extensions"]["retryAfter"] > 0
    assert await staff_count(services, tenant.account_id) == before
    # another account's allowance is its own
    theirs = await run(api, other.owner, people(4), apply=True)
    assert (theirs["applied"], theirs["created"]) == (True, 4)


async def test_a_file_counts_its_rows_not_its_requests(api, services):
    """A row is counted per line it holds (blank lines and a cell over several lines count
    too: counting them exactly would take reading the file, before it is refused), the
    header not; at most the rows a file may hold."""
    assert bulk_import.rows_counted(people(3), 1000) == 3
    assert bulk_import.rows_counted(people(3).encode(), 1000) == 3
    assert bulk_import.rows_counted("firstName,lastName\nA,B", 1000) == 1
    assert bulk_import.rows_counted("firstName,lastName\rA,B\rC,D\r", 1000) == 2
    assert bulk_import.rows_counted('firstName,notes\nA,"two\r\nlines"\n', 1000) == 2
    assert bulk_import.rows_counted("firstName,lastName", 1000) == 0
    assert bulk_import.rows_counted("", 1000) == 0
    # a file over the size limit is refused before a row is read
    assert bulk_import.rows_counted(people(3), 10) == 0
    many = "firstName\n" + "A\n" * (bulk_import.MAX_ROWS + 5)
    assert bulk_import.rows_counted(many, len(many)) == bulk_import.MAX_ROWS


async def test_an_uploaded_file_counts_its_rows(services, app):
    services.limiter.limits[LIMIT] = Limit(3, HOUR)
    tenant = await make_tenant(services)
    async with live_server(app) as base, httpx.AsyncClient(base_url=base) as http:
        done = await http.post(
            "/graphql", files=_multipart(_rows(3), apply=True), headers=_auth(tenant.owner)
        )
        assert done.json()["data"]["staffImport"]["created"] == 3, done.text
        refused = await http.post(
            "/graphql", files=_multipart(_rows(1)), headers=_auth(tenant.owner)
        )
        assert error_codes(refused.json()) == ["RATE_LIMITED"], refused.text
    assert await staff_count(services, tenant.account_id) == 1 + 3


async def test_who_may_not_import_uses_up_no_allowance(api, services):
    services.limiter.limits[LIMIT] = Limit(3, HOUR)
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    editor = await make_member(services, tenant, Role.EDITOR)
    for _ in range(3):
        refused = await run(api, viewer, people(3), apply=True)
        assert [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"], refused
        # nor an editor who may import but not invite, asking to invite
        refused = await run(api, editor, people(3), apply=True, invite=True)
        assert [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"], refused
    assert await counted(services) == 0
    report = await run(api, tenant.owner, people(3), apply=True)
    assert (report["applied"], report["created"]) == (True, 3)
    # and the allowance is there: the owner's three rows used it up
    refused = await api(IMPORT, {"csv": people(1, "Late")}, as_=tenant.owner)
    assert error_codes(refused) == ["RATE_LIMITED"], refused
