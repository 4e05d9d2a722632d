"""staffImport with the CSV as a file upload (the GraphQL multipart request
specification), over a live server with a plain HTTP client: the same report as the csv
string; ROSTER_MAX_IMPORT_BYTES enforced while reading (a typed error, nothing written);
a multipart request is read only with a header that makes browsers ask first (CORS
preflight)."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select

from app.access import Role
from app.audit.models import AuditEntry
from app.staff.models import Staff
from tests.conftest import make_settings
from tests.factories import make_member, make_tenant
from tests.security.live import live_server
from tests.staff.test_bulk_import import to_csv

LIMIT = 4096
IMPORT = """mutation($file: Upload, $csv: String, $apply: Boolean!) {
  staffImport(input: {file: $file, csv: $csv, apply: $apply}) {
    applied created updated failed
    errors { row column code }
    userErrors { field code message }
  }
}"""


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, max_import_bytes=LIMIT)


def _multipart(data: bytes | None, *, apply: bool = False, csv: str | None = None):
    """The multipart request's parts: operations, map and the file (as the spec says)."""
    operations = {
        "query": IMPORT,
        "variables": {"file": None, "csv": csv, "apply": apply},
    }
    parts = {
        "operations": (None, json.dumps(operations), "application/json"),
        "map": (None, json.dumps({"0": ["variables.file"]} if data is not None else {})),
    }
    if data is not None:
        parts["0"] = ("staff.csv", data, "text/csv")
    return parts


def _auth(member) -> dict:
    return {"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm}


async def _counts(services, account_id: int) -> tuple[int, int]:
    async with services.db.session() as session:
        staff = await session.scalar(
            select(func.count()).select_from(Staff).where(Staff.account_id == account_id)
        )
        audit = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.account_id == account_id)
        )
        return staff, audit


def _rows(n: int) -> bytes:
    return to_csv([{"firstName": "Up", "lastName": f"Loaded{i}"} for i in range(n)]).encode()


async def test_an_uploaded_file_is_checked_then_imported(services, app):
    tenant = await make_tenant(services)
    async with live_server(app) as base, httpx.AsyncClient(base_url=base) as http:
        dry = await http.post("/graphql", files=_multipart(_rows(3)), headers=_auth(tenant.owner))
        assert dry.status_code == 200, dry.text
        report = dry.json()["data"]["staffImport"]
        assert report == {
            "applied": False,
            "created": 3,
            "updated": 0,
            "failed": 0,
            "errors": [],
            "userErrors": [],
        }
        assert (await _counts(services, tenant.account_id))[0] == 1
        done = await http.post(
            "/graphql", files=_multipart(_rows(3), apply=True), headers=_auth(tenant.owner)
        )
        report = done.json()["data"]["staffImport"]
        assert report["applied"] is True and report["created"] == 3
    assert (await _counts(services, tenant.account_id))[0] == 4


async def test_a_file_over_the_limit_is_a_typed_error_and_nothing_is_written(services, app):
    tenant = await make_tenant(services)
    before = await _counts(services, tenant.account_id)
    big = _rows(400)
    assert len(big) > LIMIT
    async with live_server(app) as base, httpx.AsyncClient(base_url=base) as http:
        answer = await http.post(
            "/graphql", files=_multipart(big, apply=True), headers=_auth(tenant.owner)
        )
        assert answer.status_code == 200, answer.text
        report = answer.json()["data"]["staffImport"]
        assert report["applied"] is False
        [error] = report["userErrors"]
        assert (error["field"], error["code"]) == (["input", "file"], "TOO_LONG")
        assert "4096 bytes" in error["message"]
        # the same limit for the csv string
        answer = await http.post(
            "/graphql",
            json={"query": IMPORT, "variables": {"csv": big.decode(), "apply": True}},
            headers=_auth(tenant.owner),
        )
        [error] = answer.json()["data"]["staffImport"]["userErrors"]
        assert (error["field"], error["code"]) == (["input", "csv"], "TOO_LONG")
        # exactly at the limit is read
        fits = _rows(400)[:LIMIT].rsplit(b"\r\n", 1)[0] + b"\r\n"
        answer = await http.post("/graphql", files=_multipart(fits), headers=_auth(tenant.owner))
        assert answer.json()["data"]["staffImport"]["userErrors"] == []
    assert await _counts(services, tenant.account_id) == before


async def test_a_body_far_over_the_limit_is_cut_off(services, app, settings):
    tenant = await make_tenant(services)
    before = await _counts(services, tenant.account_id)
    huge = b"x" * (settings.max_body_bytes + LIMIT + 2 * 1024 * 1024)
    async with live_server(app) as base, httpx.AsyncClient(base_url=base) as http:
        answer = await http.post("/graphql", files=_multipart(huge), headers=_auth(tenant.owner))
        assert answer.status_code == 413
        assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        # the JSON limit stays as it was
        answer = await http.post(
            "/graphql",
            json={"query": IMPORT, "variables": {"csv": "x" * 300_000, "apply": True}},
            headers=_auth(tenant.owner),
        )
        assert answer.status_code == 413
        # without credentials a multipart request gets no larger allowance than JSON ...
        over_json = b"x" * (settings.max_body_bytes + 1024)
        answer = await http.post(
            "/graphql", files=_multipart(over_json), headers={"GraphQL-Preflight": "1"}
        )
        assert answer.status_code == 413
        # ... nor does a second, multipart Content-Type behind a JSON one
        answer = await http.post(
            "/graphql",
            content=b"{" + b" " * (settings.max_body_bytes + 1024) + b"}",
            headers=[
                ("content-type", "application/json"),
                ("content-type", "multipart/form-data; boundary=x"),
                ("authorization", f"Bearer {tenant.owner.token}"),
                ("x-auth-realm", tenant.slug),
            ],
        )
        assert answer.status_code == 413
    assert await _counts(services, tenant.account_id) == before


async def test_a_multipart_request_needs_a_header_that_forces_a_preflight(services, app):
    tenant = await make_tenant(services)
    async with live_server(app) as base, httpx.AsyncClient(base_url=base) as http:
        # what a cross-site HTML form could send: no such header
        answer = await http.post("/graphql", files=_multipart(_rows(1), apply=True))
        assert answer.status_code == 400
        assert "GraphQL-Preflight" in answer.json()["errors"][0]["message"]
        # with GraphQL-Preflight it is read, and answered as any request without a token
        answer = await http.post(
            "/graphql",
            files=_multipart(_rows(1), apply=True),
            headers={"GraphQL-Preflight": "1"},
        )
        assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        # X-Auth-Token (BigTime's header) forces a preflight too
        answer = await http.post(
            "/graphql",
            files=_multipart(_rows(1)),
            headers={"X-Auth-Token": tenant.owner.token, "X-Auth-Realm": tenant.slug},
        )
        assert answer.json()["data"]["staffImport"]["created"] == 1
    assert (await _counts(services, tenant.account_id))[0] == 1


async def test_csv_or_file_exactly_one_and_permissions_come_first(services, app):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    async with live_server(app) as base, httpx.AsyncClient(base_url=base) as http:
        both = await http.post(
            "/graphql",
            files=_multipart(_rows(1), csv=_rows(1).decode()),
            headers=_auth(tenant.owner),
        )
        [error] = both.json()["data"]["staffImport"]["userErrors"]
        assert error["code"] == "INVALID"
        neither = await http.post(
            "/graphql",
            json={"query": IMPORT, "variables": {"apply": False}},
            headers=_auth(tenant.owner),
        )
        [error] = neither.json()["data"]["staffImport"]["userErrors"]
        assert (error["field"], error["code"]) == (["input", "csv"], "REQUIRED")
        # a file given as a JSON value, not an uploaded part, is a typed error
        not_a_file = await http.post(
            "/graphql",
            json={"query": IMPORT, "variables": {"file": "x", "apply": False}},
            headers=_auth(tenant.owner),
        )
        [error] = not_a_file.json()["data"]["staffImport"]["userErrors"]
        assert (error["field"], error["code"]) == (["input", "file"], "INVALID")
        # a viewer is refused before the file is read (even one over the limit)
        refused = await http.post("/graphql", files=_multipart(_rows(400)), headers=_auth(viewer))
        body = refused.json()
        codes = [e["code"] for e in (body["data"]["staffImport"] or {}).get("userErrors", [])] or [
            e["extensions"]["code"] for e in body.get("errors", [])
        ]
        assert codes == ["FORBIDDEN"]
        not_utf8 = await http.post(
            "/graphql",
            files=_multipart(b"firstName,lastName\r\n\xff\xfe,x\r\n"),
            headers=_auth(tenant.owner),
        )
        [error] = not_utf8.json()["data"]["staffImport"]["userErrors"]
        assert (error["field"], error["code"]) == (["input", "file"], "INVALID")
    assert (await _counts(services, tenant.account_id))[0] == 2
