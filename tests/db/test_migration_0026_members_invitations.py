"""Migration 0026: invitations not yet accepted (pending or expired) of records that were
already memberships before 5d66c29 (joined through a link, a sign-up...) are revoked:
they no longer reserve a seat and their links answer as withdrawn; every other invitation
is left as it was; and it goes down and up again without reopening them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.invitations.models import Invitation
from tests.db.test_review_migration_0008 import alembic, sql
from tests.factories import get_row, mail_token, make_tenant, make_user, take_mail
from tests.invitations.test_service import accept_new, invite_ok, lapse, pk, seats

ACCEPT = """mutation($t: String!) { invitationAccept(input: {token: $t,
  password: "a good long password", firstName: "In", lastName: "Vited"}) {
  token userErrors { code } } }"""

# address: (the record's state and whether it has a login, the invitation's status),
# as a database from before 5d66c29 could hold them, and the invitation's status after
CASES = {
    "joined@example.com": ("ACTIVE", True, "PENDING", "REVOKED"),
    "waiting@example.com": ("UNCONFIRMED", True, "PENDING", "REVOKED"),
    "lapsed@example.com": ("ACTIVE", True, "EXPIRED", "REVOKED"),
    "gone@example.com": ("DISABLED", True, "PENDING", "REVOKED"),
    # no membership: left alone
    "invited@example.com": ("INVITED", False, "PENDING", "PENDING"),
    "expired@example.com": ("INVITE_EXPIRED", False, "EXPIRED", "EXPIRED"),
}


def _before_0026() -> str:
    from alembic.script import ScriptDirectory

    from app.db.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    down = script.get_revision("0026").down_revision
    assert isinstance(down, str)
    return down


async def test_0026_revokes_open_invitations_of_members(database_url, services, api):
    tenant = await make_tenant(services, seats=20)
    made: dict[str, tuple[dict, str]] = {}
    for address in CASES:
        invitation = await invite_ok(api, tenant.owner, address, role="EDITOR")
        [message] = await take_mail(services)
        made[address] = (invitation, mail_token(message))
    accepted = await invite_ok(api, tenant.owner, "accepted@example.com", role="EDITOR")
    [message] = await take_mail(services)
    assert (await accept_new(api, mail_token(message)))["userErrors"] == []
    users = {a: await make_user(services, a) for a, case in CASES.items() if case[1]}
    for address, (*_, status, _) in CASES.items():
        if status == "EXPIRED":
            await lapse(services, made[address][0]["id"])

    await alembic("downgrade", database_url, _before_0026())
    try:
        # what a join of an invited record left behind before 5d66c29
        for address, (state, login, status, _) in CASES.items():
            invitation, _ = made[address]
            await sql(
                database_url,
                "UPDATE staff SET account_status = :state, user_id = :user WHERE id = "
                "(SELECT staff_id FROM invitations WHERE id = :id)",
                {"state": state, "user": users[address].id if login else None,
                 "id": pk(invitation["id"])},
            )
            await sql(
                database_url,
                "UPDATE invitations SET status = :status WHERE id = :id",
                {"status": status, "id": pk(invitation["id"])},
            )
        # used: the owner, the accepted one and the two active members; reserved: the
        # unconfirmed member and four pending invitations (three of them members')
        assert await seats(api, tenant) == {"limit": 20, "used": 4, "reserved": 5, "available": 11}
    finally:
        await alembic("upgrade", database_url, "head")

    started = datetime.now(UTC) - timedelta(minutes=1)
    for address, (_, _, _, expected) in CASES.items():
        row = await get_row(services, Invitation, pk(made[address][0]["id"]))
        assert row.status == expected, address
        if expected == "REVOKED":
            assert row.revoked_at is not None and started < row.revoked_at <= datetime.now(UTC)
        else:
            assert row.revoked_at is None, address
    assert (await get_row(services, Invitation, pk(accepted["id"]))).status == "ACCEPTED"
    # the members' invitations hold no seat now: reserved are the unconfirmed member
    # and the invitation of the record still only invited
    assert await seats(api, tenant) == {"limit": 20, "used": 4, "reserved": 2, "available": 14}
    joined_token = made["joined@example.com"][1]
    stale = (await api.data(ACCEPT, {"t": joined_token}))["invitationAccept"]
    assert stale["token"] is None
    assert [e["code"] for e in stale["userErrors"]] == ["INVITATION_REVOKED"]
    # the record's state is its membership's, untouched
    states = await sql(database_url, "SELECT account_status FROM staff WHERE email = :e",
                       {"e": "joined@example.com"})
    assert states == [{"account_status": "ACTIVE"}]

    # Down leaves them revoked, and up again is harmless.
    await alembic("downgrade", database_url, _before_0026())
    await alembic("upgrade", database_url, "head")
    rows = await sql(database_url, "SELECT status FROM invitations ORDER BY id")
    assert [r["status"] for r in rows] == [
        *(expected for *_, expected in CASES.values()), "ACCEPTED"
    ]
