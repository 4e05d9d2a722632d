"""A reading request's session: one pooled connection in one transaction, an ORM session
only when something needs one (and then on that same connection), never a commit."""

import contextlib

import pytest
from sqlalchemy import bindparam, event, select, update

from app.db.prepared import Prepared, connection_of
from app.db.reading import ReadingSession, ReadOnlyCommit
from app.staff.models import Staff
from tests.factories import make_staff, make_tenant

TITLE_OF = Prepared(select(Staff.title).where(Staff.id == bindparam("id")))


def _checked_out(services) -> int:
    return services.db.engine.sync_engine.pool.checkedout()


@contextlib.asynccontextmanager
async def reading_of(services):
    """A ReadingSession, closed on leaving, which must then have given its connection back."""
    reading = services.db.reading()
    try:
        yield reading
    finally:
        await reading.close()
    assert _checked_out(services) == 0


async def _retitle(services, staff_id: int, title: str) -> None:
    async with services.db.session(write=True) as session:
        await session.execute(update(Staff).where(Staff.id == staff_id).values(title=title))
        await session.commit()


async def test_prepared_reads_and_the_orm_share_one_connection_and_transaction(services):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant, title="Before")
    async with reading_of(services) as reading:
        assert await TITLE_OF.read(reading, {"id": staff.id}) == [["Before"]]
        assert _checked_out(services) == 1
        assert reading.orm is None  # prepared reads alone make no ORM session
        first = await connection_of(reading)
        assert await connection_of(reading) is first

        await _retitle(services, staff.id, "After")

        # The ORM, asked only now, reads on the same connection: on SQLite in the same
        # snapshot (the write above is not seen); PostgreSQL reads at READ COMMITTED.
        title = await reading.scalar(select(Staff.title).where(Staff.id == staff.id))
        assert reading.orm is not None
        assert _checked_out(services) == 1
        if services.db.dialect == "sqlite":
            assert title == "Before"
        else:
            assert title == "After"
        assert (await reading.orm.connection()).sync_connection is first.sync_connection


async def test_an_orm_session_made_before_any_read_is_the_one_connection(services):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant, title="Only")
    async with reading_of(services) as reading:
        assert await reading.get(Staff, staff.id) is not None  # the ORM first
        assert await TITLE_OF.read(reading, {"id": staff.id}) == [["Only"]]
        assert _checked_out(services) == 1


async def test_a_reading_session_refuses_to_commit_and_keeps_nothing(services):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant, title="Kept")
    async with reading_of(services) as reading:
        found = await reading.get(Staff, staff.id)
        found.title = "Changed"
        with pytest.raises(ReadOnlyCommit):
            await reading.commit()
    assert await _title(services, staff.id) == "Kept"


async def test_invalidate_discards_the_connection_instead_of_returning_it(services):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant)
    pool = services.db.engine.sync_engine.pool
    invalidated = []
    listener = lambda dbapi, _record, _error: invalidated.append(dbapi)  # noqa: E731
    event.listen(pool, "invalidate", listener)
    try:
        reading: ReadingSession = services.db.reading()
        connection = await connection_of(reading)
        raw = (await connection.get_raw_connection()).dbapi_connection
        await TITLE_OF.read(reading, {"id": staff.id})
        await reading.invalidate()
        assert invalidated == [raw]
        assert _checked_out(services) == 0
        await reading.close()  # nothing left to close
    finally:
        event.remove(pool, "invalidate", listener)


async def _title(services, staff_id: int) -> str:
    async with services.db.session() as session:
        return await session.scalar(select(Staff.title).where(Staff.id == staff_id))
