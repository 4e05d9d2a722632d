"""Exports and backups are for administrators (README's role table: "exports" are
ADMINISTRATOR and OWNER only): the domain decides, before a byte is streamed, and the
HTTP adapter only translates the refusal into 403 FORBIDDEN."""

from __future__ import annotations

import pytest

from app.access import Actor, Permit, Role
from app.access.roles import ROLE_PERMITS
from app.accounts.backup import account_json
from app.errors import AccessDenied
from app.staff.export import staff_csv
from tests.factories import make_member, make_tenant


def actor(role: Role, *extra: Permit) -> Actor:
    return Actor(
        user_id=1, account_id=1, staff_id=1, role=role,
        permits=ROLE_PERMITS[role] | frozenset(extra),
    )


@pytest.mark.parametrize("export", [staff_csv, account_json])
@pytest.mark.parametrize(
    "who", [actor(Role.VIEWER), actor(Role.EDITOR, Permit.VIEW_PERSONAL_DATA)],
    ids=["viewer", "editor+PD"],
)
def test_the_domain_refuses_non_administrators_before_streaming(export, who):
    with pytest.raises(AccessDenied):
        export(None, who, None)  # refused at the call, not at the first chunk


@pytest.mark.parametrize("path", ["/export/staff.csv", "/export/account.json"])
@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
async def test_members_below_administrator_get_403(client, services, path, role):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, role)
    response = await client.get(
        path, headers={"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm}
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("path", ["/export/staff.csv", "/export/account.json"])
@pytest.mark.parametrize("role", [Role.ADMINISTRATOR, Role.OWNER])
async def test_administrators_export(client, services, path, role):
    tenant = await make_tenant(services)
    member = tenant.owner if role == Role.OWNER else await make_member(services, tenant, role)
    response = await client.get(
        path, headers={"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm}
    )
    assert response.status_code == 200, response.text
