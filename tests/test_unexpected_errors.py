"""An unexpected exception under SCIM or the REST API answers 500 in that surface's own
error shape with the request id (header and body), masked (nothing of the exception is
shown), and is logged in full with the same id (app.main.UnexpectedErrorMiddleware)."""

from __future__ import annotations

import logging

from app.access.scopes import Scope
from app.invitations import add_staff
from tests.factories import make_api_token, make_tenant
from tests.scim.helpers import ERROR, user_body

SECRET = "password=hunter2 at /srv/roster/app.py line 42"


async def _fail(*args, **kwargs):
    raise RuntimeError(SECRET)


def assert_logged(caplog, request_id: str) -> None:
    [record] = [r for r in caplog.records if f"request_id={request_id}" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and SECRET in str(record.exc_info[1])


async def test_scim_answers_an_unexpected_error_as_a_scim_error(
    client, services, monkeypatch, caplog
):
    tenant = await make_tenant(services)
    key = await make_api_token(services, tenant, tenant.owner, scopes=[Scope.SCIM])
    monkeypatch.setattr(add_staff, "provision", _fail)

    answer = await client.post(
        "/scim/v2/Users",
        json=user_body("ada@example.com"),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/scim+json"},
    )

    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("application/scim+json")
    request_id = answer.headers["x-request-id"]
    assert answer.json() == {
        "schemas": [ERROR],
        "status": "500",
        "detail": f"Unexpected error (request id {request_id}).",
    }
    assert SECRET not in answer.text and "Traceback" not in answer.text
    assert_logged(caplog, request_id)
    # nothing of the failed request was kept
    found = await client.get(
        "/scim/v2/Users", params={"filter": 'userName eq "ada@example.com"'},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert found.json()["totalResults"] == 0


async def test_rest_answers_an_unexpected_error_as_a_bigtime_message(
    client, services, monkeypatch, caplog
):
    tenant = await make_tenant(services)
    headers = {"X-Auth-Token": tenant.owner.token, "X-Auth-Realm": tenant.owner.realm}
    monkeypatch.setattr(add_staff, "add_staff", _fail)

    answer = await client.post(
        "/api/v2/staff/add",
        json={"FName": "Ada", "SName": "Lovelace", "EMail": "ada@example.com"},
        headers=headers,
    )

    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("application/json")
    request_id = answer.headers["x-request-id"]
    assert answer.json() == {"Message": f"Unexpected error (request id {request_id})."}
    assert SECRET not in answer.text and "Traceback" not in answer.text
    assert_logged(caplog, request_id)


async def test_an_expected_refusal_keeps_its_own_answer(client, services):
    tenant = await make_tenant(services)
    headers = {"X-Auth-Token": tenant.owner.token, "X-Auth-Realm": tenant.owner.realm}
    refused = await client.post("/api/v2/staff/add", json={"SName": "X"}, headers=headers)
    assert refused.status_code == 400
    assert "x-request-id" in refused.headers
