"""Downloads of an account's data take a slot while they stream: one per account, a few
per process, and none longer than its time (``app.security.export_slots``). A client
reading a little now and then kept its export, and its database connection, for hours;
a few such, from accounts anyone may sign up for, held the pool every request needs."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import make_staff_many, make_tenant
from tests.web.test_export_stall import PATHS, download


@pytest.mark.parametrize("path", PATHS)
async def test_one_download_of_an_account_at_a_time_and_none_past_its_time(
    app, services, path
):
    services.exports.at_once = 2
    services.exports.seconds = 1.0
    tenant, other = await make_tenant(services), await make_tenant(services)
    await make_staff_many(services, tenant, [{"last_name": f"S{i}"} for i in range(400)])
    async with app.router.lifespan_context(app):
        held = asyncio.create_task(download(app, path, tenant.owner))  # reads, then stops
        for _ in range(200):
            if services.exports.running:
                break
            await asyncio.sleep(0.01)
        assert services.exports.running == {tenant.account_id: 1}

        refused = await download(app, path, tenant.owner, take=None)
        assert refused[0]["status"] == 429
        assert (b"retry-after", b"60") in refused[0]["headers"]
        theirs = await download(app, path, other.owner, take=None)  # their own slot
        assert theirs[0]["status"] == 200 and theirs[-1].get("more_body") is False

        held.cancel()  # its client goes away: the slot comes back
        with pytest.raises(asyncio.CancelledError):
            await held
        assert services.exports.running == {}
        again = await download(app, path, tenant.owner, take=None)
        assert again[0]["status"] == 200 and again[-1].get("more_body") is False
        assert services.exports.running == {}


@pytest.mark.parametrize("path", PATHS)
async def test_a_download_that_streams_too_long_is_ended_broken(app, services, path):
    """Read slowly, a part a little less often than the stall's limit, a download ends
    once it has streamed its time, without its last part (the client sees a broken
    download, never a short file that looks whole), and gives its slot back."""
    services.exports.seconds = 0.3
    tenant = await make_tenant(services)
    await make_staff_many(services, tenant, [{"last_name": f"S{i}"} for i in range(400)])
    async with app.router.lifespan_context(app):
        taken = await download(app, path, tenant.owner, take=None, pause=0.05)
    assert taken[0]["status"] == 200
    assert taken[-1].get("more_body") is True  # never told it was whole
    assert services.exports.running == {}



@pytest.mark.parametrize("path", PATHS)
async def test_a_download_read_too_slowly_is_ended_past_its_grace(
    app, services, monkeypatch, path
):
    """A few clients reading a little now and then would hold every slot for its whole
    time: past its first seconds, a download slower than the least rate is ended."""
    from app.security import export_slots

    monkeypatch.setattr(export_slots, "GRACE_SECONDS", 0.2)
    monkeypatch.setattr(export_slots, "MIN_BYTES_PER_SECOND", 10_000_000)
    tenant = await make_tenant(services)
    await make_staff_many(services, tenant, [{"last_name": f"S{i}"} for i in range(400)])
    async with app.router.lifespan_context(app):
        taken = await download(app, path, tenant.owner, take=None, pause=0.05)
    assert taken[0]["status"] == 200
    assert taken[-1].get("more_body") is True
    assert services.exports.running == {}


@pytest.mark.parametrize("path", PATHS)
async def test_a_download_ends_when_its_reader_loses_the_access_it_began_with(
    api, app, services, monkeypatch, path
):
    """Access is decided when a download begins, and asked again while it streams: an
    administrator disabled meanwhile gets a broken download, not the rest of the file;
    one who keeps their access gets the whole file."""
    from app.access import Role
    from app.web import exports
    from tests.factories import make_member

    monkeypatch.setattr(exports, "RECHECK_SECONDS", 0.05)
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    await make_staff_many(services, tenant, [{"last_name": f"S{i}"} for i in range(1500)])
    async with app.router.lifespan_context(app):
        whole = await download(app, path, admin, take=None, pause=0.1)
        assert whole[0]["status"] == 200 and whole[-1].get("more_body") is False
        # parts enough to be taken a while (a second at least): the test's premise
        assert len(whole) >= 10, len(whole)

        taking = asyncio.create_task(download(app, path, admin, take=None, pause=0.1))
        for _ in range(500):
            if services.exports.running:
                break
            await asyncio.sleep(0.01)
        disabled = await api.data(
            "mutation($id: ID!) { staffDisable(input: {staffId: $id}) { userErrors { code } } }",
            {"id": admin.staff_id}, as_=tenant.owner,
        )  # fmt: skip
        assert disabled["staffDisable"]["userErrors"] == []
        taken = await taking
    assert taken[0]["status"] == 200
    assert taken[-1].get("more_body") is True  # never told it was whole
    assert len(taken) < len(whole)
    assert services.exports.running == {}
