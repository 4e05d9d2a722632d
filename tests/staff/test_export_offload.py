"""Exports render beside the event loop (app.offload): batch by batch, in worker processes
(or a thread), with the same bytes as rendering in line, while other requests are served."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time

import pytest

from app.access import ROLE_PERMITS, Actor, Permit, Role
from app.accounts.backup import account_json
from app.errors import AccessDenied
from app.offload import Offload
from app.settings import Settings
from app.staff import export
from app.staff.export import staff_csv
from tests.conftest import make_settings
from tests.factories import (
    insert_staff_rows,
    make_custom_field,
    make_member,
    make_tenant,
    set_custom_value,
    set_staff_columns,
    set_staff_secrets,
    share_staff_with,
)


@pytest.fixture
def settings(database_url) -> Settings:
    """As a server runs: exports render in worker processes (the other tests' settings
    render them in a thread, which starts faster)."""
    assert Settings.model_fields["export_workers"].default == 1
    return make_settings(database_url, export_workers=1)


async def _world(services, n: int = 60):
    """A tenant with ``n`` staff: every 3rd restricted, SSN and salary on some, custom
    values, managers, one restricted record shared with an administrator who lacks the
    personal-data and restricted-staff permits."""
    tenant = await make_tenant(services)
    rows = [
        {
            "first_name": "=HYPERLINK(1)" if i % 17 == 0 else f"First{i}",
            "last_name": f"Last{i:03d}",
            "title": "Engineer",
            "email": f"p{i}@example.com",
            "restricted": i % 3 == 0,
        }
        for i in range(n)
    ]
    await insert_staff_rows(services, tenant, rows)
    from sqlalchemy import select

    from app.staff.models import Staff

    async with services.db.session() as session:
        ids = list(
            await session.scalars(
                select(Staff.id).where(Staff.account_id == tenant.account_id).order_by(Staff.id)
            )
        )
    field = (await make_custom_field(services, tenant, "Shirt")).id
    for k, staff_id in enumerate(ids[1:], start=1):
        if k % 2:
            await set_staff_secrets(services, staff_id, ssn=f"123-45-{k:04d}", salary=50000 + k)
        if k % 4 == 0:
            await set_custom_value(services, tenant, staff_id, field, f"+size{k}")
        if k % 5 == 0:
            await set_staff_columns(services, staff_id, manager_id=ids[1])
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    await share_staff_with(services, tenant, ids[3], admin.staff_pk)
    owner = Actor(
        user_id=tenant.owner.user_id,
        account_id=tenant.account_id,
        staff_id=tenant.owner.staff_pk,
        role=Role.OWNER,
        permits=ROLE_PERMITS[Role.OWNER],
    )
    limited = Actor(
        user_id=admin.user_id,
        account_id=tenant.account_id,
        staff_id=admin.staff_pk,
        role=Role.ADMINISTRATOR,
        permits=ROLE_PERMITS[Role.ADMINISTRATOR]
        - {Permit.VIEW_PERSONAL_DATA, Permit.VIEW_RESTRICTED_STAFF},
        shared_staff_ids=frozenset({ids[3]}),
    )
    return tenant, owner, limited


async def _text(services, build, actor, offload=None) -> bytes:
    async with services.db.session() as session:
        chunks = [c async for c in build(session, actor, services.settings.keyring, offload)]
    return b"".join(c.encode() if isinstance(c, str) else c for c in chunks)


async def test_exports_in_worker_processes_and_threads_are_byte_identical(
    client, services, monkeypatch
):
    monkeypatch.setattr(export, "BATCH", 7)  # several batches, a partial last one
    tenant, owner, limited = await _world(services)
    assert services.offload.in_processes  # as a server runs
    thread = Offload(services.settings.keyring, workers=0)
    # the backup, which holds every record whole, is refused without the details of
    # restricted records: it is made without personal data by an actor that has those
    without_personal = dataclasses.replace(
        limited, permits=limited.permits | {Permit.VIEW_RESTRICTED_STAFF}
    )
    with pytest.raises(AccessDenied):
        account_json(None, limited, None)
    for build, actors in ((staff_csv, (owner, limited)), (account_json, (owner, without_personal))):
        for actor in actors:
            in_line = await _text(services, build, actor)
            assert await _text(services, build, actor, services.offload) == in_line
            assert await _text(services, build, actor, thread) == in_line
    # and over HTTP, as an administrator downloads them
    auth = {"Authorization": f"Bearer {tenant.owner.token}", "X-Auth-Realm": tenant.owner.realm}
    for path, build in (("/export/staff.csv", staff_csv), ("/export/account.json", account_json)):
        response = await client.get(path, headers=auth)
        assert response.status_code == 200
        assert response.content == await _text(services, build, owner)
    text = (await _text(services, staff_csv, owner)).decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text and "123-45-0001" in text and "'+size4" in text


async def test_the_event_loop_runs_while_each_batch_renders(services, monkeypatch):
    """Other tasks run during every batch's rendering (a heartbeat ticks meanwhile), and
    the export is streamed a batch per chunk."""
    monkeypatch.setattr(export, "BATCH", 10)
    _, owner, _ = await _world(services, n=45)  # + the owner and the administrator
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    renders: list[tuple[int, int]] = []
    real = export.render

    def render(keyring, cells, rows):
        before = ticks
        time.sleep(0.02)  # CPU-heavy work would hold a thread this long
        text = real(keyring, cells, rows)
        renders.append((before, ticks))
        return text

    monkeypatch.setattr(export, "render", render)
    beat = asyncio.create_task(heartbeat())
    try:
        async with services.db.session() as session:
            chunks = [
                c
                async for c in staff_csv(
                    session, owner, services.settings.keyring, Offload(services.settings.keyring, 0)
                )
            ]
    finally:
        beat.cancel()
    assert len(renders) == 5  # 47 rows in batches of 10
    assert len(chunks) == 1 + 5  # the header, then one chunk per batch
    assert all(after > before for before, after in renders), renders


@pytest.mark.parametrize("workers", [1])
async def test_a_broken_worker_pool_falls_back_to_a_thread(services, workers, caplog):
    offload = Offload(services.settings.keyring, workers=workers)
    pool = offload._processes()
    pool.submit(_die).exception()  # the worker exits: the pool is broken
    try:
        assert await offload.run(_first_key) == services.settings.keyring.primary
        assert not offload.in_processes
        assert "rendering in a thread" in caplog.text
    finally:
        offload.shutdown()


async def test_worker_processes_yield_the_cpu_to_the_server(services):
    """Rendering runs at the lowest priority, below the server's requests (nice 19)."""
    offload = Offload(services.settings.keyring, workers=1)
    try:
        assert await offload.run(_niceness) == 19
    finally:
        offload.shutdown()


def _niceness(keyring) -> int:
    return os.nice(0)


def _die() -> None:
    import os

    os._exit(1)


def _first_key(keyring) -> str:
    return keyring.primary


async def test_a_batch_is_two_driver_reads_and_goes_to_the_worker_unconverted(
    services, monkeypatch
):
    """What the server does per batch stays small (see app.staff.export): one statement of
    the staff columns with the managers' sids and one of the custom values, and the rows
    are handed on as the driver returned them (picklable tuples, not ORM rows); the worker
    converts them."""
    from app.db.statements import StatementCounter

    monkeypatch.setattr(export, "BATCH", 10)
    _, owner, _ = await _world(services, n=45)  # + the owner and the administrator
    batches = []
    real = export.render

    def render(keyring, plan, batch):
        batches.append(batch)
        return real(keyring, plan, batch)

    monkeypatch.setattr(export, "render", render)
    async with services.db.session() as session:
        with StatementCounter(services.db.engine) as counted:
            text = "".join([c async for c in staff_csv(session, owner, services.settings.keyring)])
    assert len(batches) == 5  # 47 rows in batches of 10
    reads = [s for s in counted.statements if "custom_field_values" in s or "LIMIT" in s]
    # 5 batches, and the empty read that ends the export: 2 statements a full batch
    assert len(reads) == 5 * 2 + 1, counted.statements
    for rows, details, values in batches:
        assert all(type(r) is tuple for r in rows)
        assert len(details) == len(rows)
        assert all(type(v) is tuple and len(v) == 3 for v in values)
    assert text.count("\r\n") == 1 + 47


async def test_batches_shrink_while_interactive_requests_come_in(services, monkeypatch):
    """A batch read holds the event loop (on SQLite the driver runs on it): while
    interactive requests keep beginning, batches are BATCH_BESIDE_REQUESTS rows; with
    nobody else served, BATCH. The file is the same either way."""
    import itertools

    monkeypatch.setattr(export, "BATCH", 10)
    monkeypatch.setattr(export, "BATCH_BESIDE_REQUESTS", 3)
    _, owner, _ = await _world(services, n=45)  # + the owner and the administrator
    sizes: list[int] = []
    real = export.render

    def render(keyring, plan, batch):
        sizes.append(len(batch[0]))
        return real(keyring, plan, batch)

    monkeypatch.setattr(export, "render", render)
    keyring = services.settings.keyring
    quiet = Offload(keyring, workers=0)
    alone = await _text(services, staff_csv, owner, quiet)
    assert sizes == [10, 10, 10, 10, 7]
    sizes.clear()
    busy = Offload(keyring, workers=0)
    monkeypatch.setattr(busy, "requests_begun", itertools.count().__next__)  # one per look
    assert await _text(services, staff_csv, owner, busy) == alone
    assert sizes == [3] * 15 + [2]
