"""Review: taking the account's data whole leaves a trace, and is done under one's own name.

An export or a backup streamed every SSN and salary and wrote nothing in the audit log: an
administrator, a leaked key, or an owner impersonating an administrator could take the
directory without a trace. Now each is audited before its first byte (who, from where,
whether personal data came with it), and an impersonation token is refused.
"""

from __future__ import annotations

import pytest

from app.access import Role
from app.access.scopes import Scope
from tests.factories import make_api_token, make_member, make_tenant
from tests.identity.test_impersonation import start_token

AUDIT = """{ auditLog(first: 20) { edges { node {
  action actorStaffId impersonatorUserId targetType targetId clientAddress } } } }"""
PATHS = {"staffExport": "/export/staff.csv", "accountBackup": "/export/account.json"}


async def taken(api, tenant) -> list[dict]:
    edges = (await api.data(AUDIT, as_=tenant.owner))["auditLog"]["edges"]
    return [e["node"] for e in edges if e["node"]["action"].startswith(tuple(PATHS))]


@pytest.mark.parametrize("action", list(PATHS))
async def test_an_export_is_audited_before_it_streams(api, client, services, action):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    response = await client.get(
        PATHS[action], headers={"Authorization": f"Bearer {admin.token}", "X-Auth-Realm": admin.realm}
    )
    assert response.status_code == 200, response.text
    [entry] = await taken(api, tenant)
    assert entry["action"] == f"{action}WithPersonalData"
    assert entry["actorStaffId"] == admin.staff_id
    assert entry["impersonatorUserId"] is None
    assert entry["targetType"] == "Account"

    # a key without personal_data takes the data without it, and says so
    key = await make_api_token(
        services, tenant, tenant.owner,
        scopes=[Scope.ADMIN, Scope.STAFF_READ, Scope.STAFF_WRITE],
    )
    response = await client.get(PATHS[action], headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    assert [e["action"] for e in await taken(api, tenant)] == [
        action, f"{action}WithPersonalData"
    ]


@pytest.mark.parametrize("action", list(PATHS))
async def test_nothing_is_taken_or_written_when_refused(api, client, services, action):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    viewer = await make_member(services, tenant, Role.VIEWER)
    token = await start_token(api, tenant.owner, admin)  # the owner, acting as admin
    for auth in (
        {"Authorization": f"Bearer {token}", "X-Auth-Realm": tenant.slug},
        {"Authorization": f"Bearer {viewer.token}", "X-Auth-Realm": viewer.realm},
    ):
        response = await client.get(PATHS[action], headers=auth)
        assert response.status_code == 403, response.text
    assert await taken(api, tenant) == []
