"""Prepared reads return exactly what SQLAlchemy's execute returns, in the session's
transaction, and are counted like every other statement."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import (
    String,
    TypeDecorator,
    bindparam,
    event,
    literal,
    literal_column,
    null,
    select,
    tuple_,
)
from sqlalchemy.exc import IntegrityError, PendingRollbackError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import prepared
from app.db.base import UTCDateTime
from app.db.prepared import Prepared
from app.db.statements import StatementCounter
from app.staff.models import AccountStatus, Staff, StaffKind
from tests.factories import make_staff_many, make_tenant

ALL_COLUMNS = select(Staff).where(Staff.account_id == bindparam("account_id")).order_by(Staff.id)


def _typed(rows) -> list[list[tuple[type, object]]]:
    """Values with their exact Python types: 1 == True == 1.0, but a client would notice."""
    return [[(type(v), v) for v in row] for row in rows]


async def _same_as_execute(session, statement, params) -> list:
    connection = await session.connection()
    expected = [tuple(r) for r in (await connection.execute(statement, params)).all()]
    got = await Prepared(statement).all(connection, dict(params))
    assert _typed(got) == _typed(expected)
    return got


async def _varied_staff(services, tenant):
    return await make_staff_many(
        services,
        tenant,
        [
            dict(
                last_name="Typed",
                title="Lead",
                email="typed@example.com",
                start_date=date(2024, 2, 29),
                term_date=date(2025, 1, 31),
                capacity=37.5,
                rate1=120.25,
                kind=StaffKind.CONTRACTOR,
                is_inactive=True,
                restricted=True,
                notes="multi\nline ✓",
            ),
            dict(last_name="Sparse"),  # NULLs in every optional column
        ],
    )


async def test_rows_and_their_types_match_execute(services):
    tenant = await make_tenant(services)
    await _varied_staff(services, tenant)
    staff_columns = [c for c in Staff.__table__.columns]
    statement = select(*staff_columns).where(Staff.account_id == bindparam("account_id"))
    async with services.db.session() as session:
        rows = await _same_as_execute(
            session, statement.order_by(Staff.id), {"account_id": tenant.account_id}
        )
    assert len(rows) == 3  # the owner and the two records
    by_name = {r[[c.key for c in staff_columns].index("last_name")]: r for r in rows}
    typed = dict(zip([c.key for c in staff_columns], by_name["Typed"], strict=True))
    assert typed["kind"] is StaffKind.CONTRACTOR
    assert typed["is_inactive"] is True
    assert typed["start_date"] == date(2024, 2, 29)
    assert typed["created_at"].tzinfo is not None


class NullAsWord(TypeDecorator):
    """A type that reads NULL as a value (none of Roster's do; SQLAlchemy allows it)."""

    impl = String
    cache_ok = True

    def process_result_value(self, value, dialect):
        return "nothing" if value is None else value.upper()


async def test_nulls_skip_only_processors_that_keep_them(services):
    """Processors are not called for NULLs when they would return None anyway; one that
    reads NULL as something is still called for them."""
    tenant = await make_tenant(services)
    await _varied_staff(services, tenant)
    statement = (
        select(
            Staff.last_name,
            Staff.kind,
            Staff.term_date,  # NULL in the sparse record
            null().cast(NullAsWord()).label("always_null"),
            literal("word", NullAsWord()).label("never_null"),
        )
        .where(Staff.account_id == bindparam("account_id"))
        .order_by(Staff.id)
    )
    async with services.db.session() as session:
        rows = await _same_as_execute(session, statement, {"account_id": tenant.account_id})
    assert [r[3:] for r in rows] == [["nothing", "WORD"]] * 3
    sparse = next(r for r in rows if r[0] == "Sparse")
    assert sparse[1] is StaffKind.EMPLOYEE and sparse[2] is None


async def test_postgresql_timestamps_with_and_without_zone_read_as_utc(services, backend):
    """timestamptz values arrive aware and are left as they are; a timestamp without zone
    still gets UTC attached."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's column types")
    statement = select(
        literal_column("TIMESTAMP '2024-01-01 10:00'", UTCDateTime()).label("naive"),
        literal_column("TIMESTAMPTZ '2024-01-01 10:00+02'", UTCDateTime()).label("aware"),
    )
    async with services.db.session() as session:
        rows = await _same_as_execute(session, statement, {})
    assert rows == [[datetime(2024, 1, 1, 10, tzinfo=UTC), datetime(2024, 1, 1, 8, tzinfo=UTC)]]
    assert all(v.utcoffset() == timedelta(0) for v in rows[0])


async def test_bound_values_go_through_the_column_types(services):
    """Enums, timezone-aware datetimes and expanded lists of any length are bound as
    SQLAlchemy binds them (SQLite stores datetimes as text in its own format)."""
    tenant = await make_tenant(services)
    await _varied_staff(services, tenant)
    statement = (
        select(Staff.id, Staff.last_name, Staff.kind, Staff.created_at)
        .where(
            Staff.account_id == bindparam("account_id"),
            Staff.kind.in_(bindparam("kinds", expanding=True)),
            Staff.account_status != bindparam("status", type_=Staff.account_status.type),
            Staff.created_at > bindparam("since", type_=Staff.created_at.type),
        )
        .order_by(Staff.id)
    )
    since = datetime.now(UTC) - timedelta(hours=1)
    async with services.db.session() as session:
        for kinds, found in (
            ([], 0),
            ([StaffKind.CONTRACTOR], 1),
            ([StaffKind.CONTRACTOR, StaffKind.EMPLOYEE], 3),
            ([StaffKind.EMPLOYEE], 2),  # a length seen before: its rendered form is reused
        ):
            params = {
                "account_id": tenant.account_id,
                "kinds": kinds,
                "status": AccountStatus.DISABLED,
                "since": since,
            }
            assert len(await _same_as_execute(session, statement, params)) == found
        later = {**params, "since": datetime.now(UTC) + timedelta(hours=1)}
        assert await _same_as_execute(session, statement, later) == []


async def test_reads_see_the_sessions_own_uncommitted_writes(services):
    """A prepared read runs on the session's connection, in its transaction."""
    tenant = await make_tenant(services)
    async with services.db.session(write=True) as session:
        session.add(
            Staff(
                account_id=tenant.account_id,
                sid=999,
                first_name="Not",
                last_name="Committed",
                last_name_key="committed",
            )
        )
        await session.flush()
        connection = await session.connection()
        rows = await Prepared(ALL_COLUMNS).all(connection, {"account_id": tenant.account_id})
        assert any("Committed" in r for r in rows)
        await session.rollback()
    async with services.db.session() as session:
        connection = await session.connection()
        rows = await Prepared(ALL_COLUMNS).all(connection, {"account_id": tenant.account_id})
        assert not any("Committed" in r for r in rows)


async def test_an_invalidated_connection_is_reconnected_as_sqlalchemy_would(services):
    """A connection SQLAlchemy has invalidated (say, after a disconnect) is not read
    from; outside a transaction SQLAlchemy reconnects it, inside one it refuses."""
    tenant = await make_tenant(services)
    params = {"account_id": tenant.account_id}
    async with services.db.engine.connect() as connection:
        before = await Prepared(ALL_COLUMNS).all(connection, params)
        await connection.invalidate()
        assert connection.invalidated
        assert await Prepared(ALL_COLUMNS).all(connection, params) == before
    async with services.db.session() as session:
        connection = await session.connection()
        await connection.invalidate()
        with pytest.raises(PendingRollbackError):
            await Prepared(ALL_COLUMNS).all(connection, params)


async def test_prepared_statements_are_counted(services):
    tenant = await make_tenant(services)
    prepared = Prepared(ALL_COLUMNS)
    async with services.db.session() as session:
        connection = await session.connection()
        with StatementCounter(services.db.engine) as counter:
            await prepared.all(connection, {"account_id": tenant.account_id})
            await prepared.all(connection, {"account_id": tenant.account_id})
    assert counter.count == 2
    assert all(s.lstrip().upper().startswith("SELECT") for s in counter.statements)


async def test_lists_of_ever_new_lengths_keep_a_bounded_cache(services, monkeypatch):
    monkeypatch.setattr(prepared, "MAX_FORMS", 3)
    tenant = await make_tenant(services)
    staff = await make_staff_many(services, tenant, [{} for _ in range(6)])
    statement = Prepared(
        select(Staff.id).where(Staff.id.in_(bindparam("ids", expanding=True))).order_by(Staff.id)
    )
    async with services.db.session() as session:
        connection = await session.connection()
        for n in (1, 2, 3, 4, 5, 6, 2, 1):
            ids = [s.id for s in staff[:n]]
            rows = await statement.all(connection, {"ids": ids})
            assert [r[0] for r in rows] == ids
            assert len(statement._forms) <= 3


async def test_lists_written_in_the_statement_are_constants(services):
    tenant = await make_tenant(services)
    staff = await make_staff_many(services, tenant, [{} for _ in range(3)])
    fixed = [staff[0].id, staff[2].id]
    statement = select(Staff.id).where(Staff.id.in_(fixed)).order_by(Staff.id)
    async with services.db.session() as session:
        assert [r[0] for r in await _same_as_execute(session, statement, {})] == fixed


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(lambda: Staff.id < bindparam("n", literal_execute=True), id="literal"),
        pytest.param(
            lambda: tuple_(Staff.account_id, Staff.id).in_(bindparam("pairs", expanding=True)),
            id="tuples",
        ),
    ],
)
async def test_statements_whose_text_follows_their_values_are_refused(services, where):
    """A cached form would keep the first call's values in its SQL text."""
    prepared_statement = Prepared(select(Staff.id).where(where()))
    async with services.db.session() as session:
        connection = await session.connection()
        with pytest.raises(prepared.UnsupportedStatement):
            await prepared_statement.all(connection, {"n": 1, "pairs": [(1, 1)]})


async def test_prepared_reads_in_a_writing_session_are_counted(services):
    tenant = await make_tenant(services)
    async with services.db.session(write=True) as session:
        connection = await session.connection()
        with StatementCounter(services.db.engine) as counter:
            await Prepared(ALL_COLUMNS).all(connection, {"account_id": tenant.account_id})
    assert counter.count == 1


async def test_a_datetime_bound_to_the_stored_instant_finds_its_row(services):
    """SQLite stores datetimes as text in SQLAlchemy's own format: a bound datetime must
    be written the same way, or the row created at that instant compares as earlier."""
    tenant = await make_tenant(services)
    [row] = await make_staff_many(services, tenant, [dict(last_name="Instant")])
    statement = select(Staff.id).where(
        Staff.account_id == bindparam("account_id"),
        Staff.created_at >= bindparam("at", type_=Staff.created_at.type),
    )
    params = {"account_id": tenant.account_id, "at": row.created_at}
    async with services.db.session() as session:
        assert row.id in [r[0] for r in await _same_as_execute(session, statement, params)]


async def test_read_sends_the_sessions_pending_changes_first(services):
    """``Prepared.read`` sees what the session added, changed and deleted without a flush
    of its own, as the ORM's own queries would."""
    tenant = await make_tenant(services)
    params = {"account_id": tenant.account_id}
    names = Prepared(
        select(Staff.last_name).where(Staff.account_id == bindparam("account_id"))
    )
    async with services.db.session(write=True) as session:
        added = Staff(
            account_id=tenant.account_id, sid=998, first_name="A", last_name="Added",
            last_name_key="added",
        )
        session.add(added)
        assert "Added" in {r[0] for r in await names.read(session, params)}
        added.last_name = "Changed"
        assert "Changed" in {r[0] for r in await names.read(session, params)}
        await session.delete(added)
        assert not {"Added", "Changed"} & {r[0] for r in await names.read(session, params)}
        await session.rollback()


# The last names of an account's staff: a read for the tests of the session's connection.
NAMES = Prepared(select(Staff.last_name).where(Staff.account_id == bindparam("account_id")))


class _Asked:
    n = 0


@pytest.fixture
def asked(monkeypatch) -> _Asked:
    """Counts the sessions' ``connection()`` calls (the trips ``connection_of`` saves)."""
    counter = _Asked()
    original = AsyncSession.connection

    async def counted(self, *args, **kwargs):
        counter.n += 1
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncSession, "connection", counted)
    return counter


async def test_a_session_lends_its_transactions_connection_to_reads_until_it_ends(
    services, asked
):
    """``connection_of`` asks the session once a transaction; after a commit, a rollback
    or a failed flush it asks again, so a read never runs where the session would refuse
    to."""
    tenant = await make_tenant(services)
    params = {"account_id": tenant.account_id}
    async with services.db.session(write=True) as session:
        first = await prepared.connection_of(session)
        for _ in range(3):
            assert await prepared.connection_of(session) is first
            await NAMES.read(session, params)
        assert asked.n == 1
        session.add(
            Staff(
                account_id=tenant.account_id, sid=997, first_name="B", last_name="Kept",
                last_name_key="kept",
            )
        )
        assert "Kept" in {r[0] for r in await NAMES.read(session, params)}
        await session.commit()  # the transaction ends: the next read asks again
        assert "Kept" in {r[0] for r in await NAMES.read(session, params)}
        assert asked.n == 2
        await session.rollback()
        await NAMES.read(session, params)
        assert asked.n == 3
        # a failed flush leaves the transaction inactive: the session refuses, as before
        session.add(
            Staff(
                account_id=tenant.account_id, sid=997, first_name="C", last_name="Twin",
                last_name_key="twin",
            )
        )
        with pytest.raises(IntegrityError):
            await session.flush()
        with pytest.raises(PendingRollbackError):
            await prepared.connection_of(session)
        await session.rollback()
        assert "Kept" in {r[0] for r in await NAMES.read(session, params)}
        assert asked.n == 5
    # a closed session's connection went back to the pool: a new one is taken
    async with services.db.session() as session:
        await NAMES.read(session, params)
        assert asked.n == 6
        held = await prepared.connection_of(session)
        await session.close()
        again = await prepared.connection_of(session)
        assert again is not held and not again.closed
        assert "Kept" in {r[0] for r in await Prepared(NAMES.statement).all(again, params)}


async def test_reads_in_a_savepoint_ask_the_session_which_sends_it(services, asked):
    """Inside ``begin_nested`` every read asks the session (which sends the SAVEPOINT
    first), so that a failed read can be rolled back to it; back in the outer transaction
    its connection is lent again without asking."""
    tenant = await make_tenant(services)
    params = {"account_id": tenant.account_id}
    async with services.db.session(write=True) as session:
        await NAMES.read(session, params)
        assert asked.n == 1
        savepoints: list[str] = []
        engine = services.db.engine.sync_engine

        def saved(conn, name):
            savepoints.append(name)

        event.listen(engine, "savepoint", saved)
        try:
            async with session.begin_nested():
                await NAMES.read(session, params)
                assert savepoints  # sent before the read
                await NAMES.read(session, params)
        finally:
            event.remove(engine, "savepoint", saved)
        assert asked.n == 3
        await NAMES.read(session, params)
        await NAMES.read(session, params)
        assert asked.n == 3  # the outer transaction's connection, lent again


async def test_a_session_that_lent_its_connection_is_freed_without_the_collector(services):
    """What ``connection_of`` keeps in the session refers to the session's transaction
    weakly: a closed session that read is freed as soon as it is let go of, not left to
    the cyclic collector (which the server keeps for what requests leave behind)."""
    import gc
    import weakref

    tenant = await make_tenant(services)
    params = {"account_id": tenant.account_id}
    gc.collect()
    gc.disable()
    try:
        for write in (False, True):
            session = services.db.session(write=write)
            await NAMES.read(session, params)
            await NAMES.read(session, params)
            if write:
                await session.commit()
            await session.close()
            freed = weakref.ref(session.sync_session)
            del session
            assert freed() is None, f"write={write}: the session waits for the collector"
    finally:
        gc.enable()


async def test_a_first_raw_read_leaves_no_transaction_open(services):
    """Describing a statement's columns (its first ``raw`` read, on PostgreSQL) ended with
    a Flush, not a Sync: the server stayed in the Parse's implicit transaction, holding a
    snapshot and locks, and a BEGIN with an isolation level sent next on that connection
    was refused ("SET TRANSACTION ISOLATION LEVEL must be called before any query"). The
    export's REPEATABLE READ snapshot failed so after an authentication."""
    if services.db.dialect != "postgresql":
        pytest.skip("asyncpg's describing of a statement: PostgreSQL only")
    tenant = await make_tenant(services)
    await make_staff_many(services, tenant, [{"last_name": "Read"}])
    async with services.db.engine.connect() as connection:
        rows, _ = await Prepared(ALL_COLUMNS).raw(connection, {"account_id": tenant.account_id})
        assert len(rows) == 2  # the owner and the record
        await connection.commit()  # nothing SQLAlchemy began: sends nothing
        snapshot = await connection.execution_options(isolation_level="REPEATABLE READ")
        assert (await snapshot.exec_driver_sql("SELECT 1")).scalar() == 1
