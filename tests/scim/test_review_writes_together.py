"""Where SCIM's writes meet others': a PATCH writes only what it changes, and turning a
person on (which may invite them) counts its invitation before it writes or locks
anything, so a refusal leaves nothing of the change behind."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from app.access import Role
from app.accounts.service import lock_account
from app.security.models import RateLimitBucket
from app.security.rate_limits import Limit
from app.staff.models import AccountStatus, Staff
from tests.factories import get_row, gid, make_member, take_mail, until_waiting_on_a_lock
from tests.scim.helpers import scim_for
from tests.scim.test_users import ACCOUNT_UPDATE, _create, _pk


async def test_a_patch_of_personal_data_moves_no_time_a_viewer_sees(services, client, api):
    """A PATCH writes only what it changes: one of a mobile number used to write back every
    attribute, and a viewer saw the record's modifiedAt move, learning that some personal
    data of it had just changed (``app.staff.stamps``)."""
    s = await scim_for(services, client)
    made = await _create(s, "both@example.com", title="Lead")
    viewer = await make_member(services, s.tenant, Role.VIEWER)
    seen = """query($id: ID!) { node(id: $id) { ... on Staff { title modifiedAt } } }"""
    pk = await _pk(services, s, made["id"])
    before = await api.data(seen, {"id": gid("Staff", pk)}, as_=viewer)

    response = await s.patch(f"/Users/{made['id']}", {
        "op": "add", "path": "phoneNumbers",
        "value": [{"type": "mobile", "value": "+1 555 0100"}],
    })  # fmt: skip
    assert response.status_code == 200, response.text
    row = await get_row(services, Staff, pk)
    assert row.phone_cell == "+1 555 0100"
    assert await api.data(seen, {"id": gid("Staff", pk)}, as_=viewer) == before


async def test_turning_on_a_person_over_the_sending_limit_changes_nothing(
    services, client, api
):
    s = await scim_for(services, client)
    await api.data(ACCOUNT_UPDATE, {"on": True}, as_=s.tenant.owner)
    made = await _create(s, "later@example.com", active=False, title="Before")
    pk = await _pk(services, s, made["id"])
    services.limiter.limits["invitations_account"] = Limit(0, timedelta(days=1))

    response = await s.put(
        f"/Users/{made['id']}",
        {**made, "active": True, "title": "After"},
    )
    assert response.status_code == 429, response.text
    assert response.headers["Retry-After"]
    row = await get_row(services, Staff, pk)
    assert (row.account_status, row.title) == (AccountStatus.DISABLED, "Before")
    assert await take_mail(services) == []
    audit = await api.data(
        "{ auditLog(first: 50) { edges { node { action } } } }", as_=s.tenant.owner
    )
    assert "scimReplace" not in [e["node"]["action"] for e in audit["auditLog"]["edges"]]


async def test_turning_on_a_person_counts_its_invitation_before_taking_the_account(
    services, client, api, backend
):
    """PostgreSQL: the invitation's count comes before the account lock, as every other
    way of sending one takes them (``lock_account``): with the account locked by a
    request under way, the count is already taken when the PATCH waits."""
    if backend == "sqlite":
        pytest.skip("SQLite's writer lock runs one write transaction at a time")
    s = await scim_for(services, client)
    await api.data(ACCOUNT_UPDATE, {"on": True}, as_=s.tenant.owner)
    made = await _create(s, "later@example.com", active=False)
    async with services.db.session(write=True) as session:  # an invitation sent today
        await services.limiter.hit(session, "invitations_account", s.tenant.account_id)
        await session.commit()
    bucket = (
        select(RateLimitBucket.key)
        .where(RateLimitBucket.key.startswith("invitations_account:"))
        .with_for_update(nowait=True)
    )

    async with services.db.session(write=True) as other:
        await lock_account(other, s.tenant.account_id)
        enabling = asyncio.create_task(
            s.patch(f"/Users/{made['id']}", {"op": "replace", "path": "active", "value": True})
        )
        await until_waiting_on_a_lock(services, enabling)
        assert not enabling.done()
        # the count's row is held by the waiting request: a look that will not wait fails
        with pytest.raises(DBAPIError, match="could not obtain lock"):
            await other.execute(bucket)
        await other.rollback()  # the account goes
    response = await enabling
    assert response.status_code == 200, response.text
    assert [m["To"] for m in await take_mail(services)] == ["later@example.com"]


async def test_turning_a_person_off_takes_the_account_before_their_invitation(
    services, client, api, backend
):
    """PostgreSQL: a PUT that changes an invited person's email and turns them off locks the
    account before it writes the record (whose new address locks its open invitation):
    a resend locks the account first and then the invitation, and the reverse order
    deadlocked against it."""
    if backend == "sqlite":
        pytest.skip("SQLite's writer lock runs one write transaction at a time")
    from app.invitations.models import Invitation

    s = await scim_for(services, client)
    await api.data(ACCOUNT_UPDATE, {"on": True}, as_=s.tenant.owner)
    made = await _create(s, "invited@example.com")
    assert [m["To"] for m in await take_mail(services)] == ["invited@example.com"]
    open_invitation = select(Invitation.id).with_for_update(nowait=True)

    async with services.db.session(write=True) as other:
        await lock_account(other, s.tenant.account_id)  # a resend under way
        body = {**made, "userName": "moved@example.com", "active": False}
        body["emails"] = [{"value": "moved@example.com", "type": "work", "primary": True}]
        replacing = asyncio.create_task(s.put(f"/Users/{made['id']}", body))
        await until_waiting_on_a_lock(services, replacing)
        assert not replacing.done()
        # the resend's next lock: the invitation, which the PUT must not hold yet
        assert len(list(await other.scalars(open_invitation))) == 1
        await other.rollback()
    response = await replacing
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
