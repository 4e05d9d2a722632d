"""Exports and backups are for administrators (README's role table: "exports" are
ADMINISTRATOR and OWNER only): the domain decides, before a byte is streamed, and the
HTTP adapter only translates the refusal into 403 FORBIDDEN."""

from __future__ import annotations

import pytest

from app.access import Actor, Permit, Role
from app.access.roles import ROLE_PERMITS
from app.access.scopes import Scope
from app.accounts.backup import account_json
from app.errors import AccessDenied
from app.staff.export import staff_csv
from tests.factories import make_api_token, make_member, make_tenant


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


def test_a_backup_needs_the_details_of_restricted_records():
    """The CSV blanks the details a reader may not see; a backup holds every record whole,
    so it is refused instead."""
    reader = Actor(user_id=1, account_id=1, staff_id=1, role=Role.ADMINISTRATOR,
                   permits=ROLE_PERMITS[Role.ADMINISTRATOR] - {Permit.VIEW_RESTRICTED_STAFF})
    with pytest.raises(AccessDenied):
        account_json(None, reader, None)
    staff_csv(None, reader, None)  # not refused: a stream, not started here


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


@pytest.mark.parametrize("path", ["/export/staff.csv", "/export/account.json"])
@pytest.mark.parametrize(
    "scopes",
    [[Scope.ADMIN], [Scope.ADMIN, Scope.PERSONAL_DATA], [Scope.STAFF_READ, Scope.PERSONAL_DATA]],
    ids=["admin", "admin+personal_data", "staff:read+personal_data"],
)
async def test_an_api_key_exports_only_with_admin_and_staff_read(client, services, path, scopes):
    """A key's actor holds its creator's permits that its scopes name: without staff:read it
    reads the directory like a guest (a restricted record is not found), so the file of
    everyone is refused too, with 403 before the first byte (the CSV's stream failed
    half-way, and the backup held every restricted record's details)."""
    tenant = await make_tenant(services)
    key = await make_api_token(services, tenant, tenant.owner, scopes=scopes)
    headers = {"Authorization": f"Bearer {key}"}
    response = await client.get(path, headers=headers)
    assert response.status_code == 403, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    full = await make_api_token(services, tenant, tenant.owner,
                                scopes=[Scope.ADMIN, Scope.STAFF_READ])
    response = await client.get(path, headers={"Authorization": f"Bearer {full}"})
    assert response.status_code == 200, response.text
