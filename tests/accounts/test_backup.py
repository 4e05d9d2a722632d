"""GET /export/account.json, and ``roster account export``: the account's backup."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from app.access import Role
from app.security.tokens import token_digest
from tests.factories import (
    SSN,
    Member,
    mail_token,
    make_member,
    make_people,
    make_staff,
    make_tenant,
    take_mail,
)

ROOT = Path(__file__).resolve().parents[2]


def headers(member: Member) -> dict:
    return {"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm}


@pytest.fixture
async def people(services):
    return await make_people(services)


async def account_json(client, member: Member):
    return await client.get("/export/account.json", headers=headers(member))


@pytest.fixture
async def backup_world(api, services, people):
    tenant, plain, secret = people
    invited = await api.data(
        """mutation { invitationCreate(input: {email: "invitee@example.com", role: EDITOR}) {
          invitation { id } userErrors { code } } }""",
        as_=tenant.owner,
    )
    assert invited["invitationCreate"]["userErrors"] == []
    [mail] = await take_mail(services)
    project = await api.data(
        'mutation { projectCreate(input: {name: "Apollo"}) { project { id } userErrors { code } } }',
        as_=tenant.owner,
    )
    assert project["projectCreate"]["userErrors"] == []
    other = await make_tenant(services)
    await make_staff(services, other, first_name="Not", last_name="Ours")
    return tenant, plain, secret, mail_token(mail)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
async def test_account_backup_is_for_administrators(api, client, services, role):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, role)
    response = await account_json(client, member)
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await client.get("/export/account.json")).status_code == 401


def check_backup(backup: dict, tenant, plain, secret, invitation_token: str) -> None:
    for key in ("account", "staff", "customFields", "customFieldValues", "invitations",
                "projects", "auditLog"):  # fmt: skip
        assert key in backup, key
    assert backup["account"]["id"] == tenant.account_id
    staff = {s["last_name"]: s for s in backup["staff"]}
    assert "Ours" not in staff
    assert {"Plain", "Restricted"} <= set(staff)
    assert staff["Plain"]["ssn"] == SSN and float(staff["Plain"]["salary"]) == 85123.45
    assert staff["Restricted"]["ssn"] == "999-88-7777"
    assert staff["Plain"]["email"] == "pia.plain@example.com"
    assert {f["name"] for f in backup["customFields"]} == {"Nickname", "Shoe size"}
    assert {v["value"] for v in backup["customFieldValues"]} == {"Pip", "EU 38", "Rexy", "EU 45"}
    [invitation] = backup["invitations"]
    assert invitation["email"] == "invitee@example.com"
    assert [p["name"] for p in backup["projects"]] == ["Apollo"]
    assert {e["action"] for e in backup["auditLog"]} >= {"invitationCreate", "projectCreate"}
    assert "token_digest" not in invitation and "digest" not in invitation
    assert not {"ssn_encrypted", "salary_encrypted"} & set(staff["Plain"])
    raw = json.dumps(backup)
    assert invitation_token not in raw and token_digest(invitation_token) not in raw
    assert "$argon2" not in raw  # no password hash


@pytest.mark.parametrize("role", [Role.ADMINISTRATOR, Role.OWNER])
async def test_account_backup(api, client, services, backup_world, role):
    tenant, plain, secret, invitation_token = backup_world
    member = tenant.owner if role == Role.OWNER else await make_member(services, tenant, role)
    response = await account_json(client, member)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    check_backup(response.json(), tenant, plain, secret, invitation_token)


async def test_cli_account_export_writes_the_same_backup(
    client, services, settings, database_url, backup_world
):
    tenant, plain, secret, invitation_token = backup_world
    over_http = (await account_json(client, tenant.owner)).json()

    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    env.update(ROSTER_DATABASE_URL=database_url, ROSTER_ENCRYPTION_KEYS=settings.encryption_keys)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "account", "export", "--slug", tenant.slug,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    from_cli = json.loads(out)
    check_backup(from_cli, tenant, plain, secret, invitation_token)
    # the same backup, and one more entry in its audit log: the console's, by no member
    taken = from_cli["auditLog"].pop()
    assert (taken["action"], taken["actor_user_id"], taken["actor_staff_id"]) == (
        "accountBackupWithPersonalData", None, None
    )
    # each signed for its own bytes, under the same key
    signatures = [from_cli.pop("signature"), over_http.pop("signature")]
    assert {s["key"] for s in signatures} == {services.settings.keyring.primary}
    assert from_cli == over_http

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "account", "export", "--slug", "no-such-account",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode != 0 and "no-such-account" in err.decode()
