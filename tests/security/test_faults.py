"""Faults: the database failing mid-request, the server process killed mid-write, the
email relay killed mid-batch, and role changes racing each other.

What a client or an operator would notice is checked: the answer they get (a masked error
with a request id, never a stack trace), and what is left in the database afterwards
(everything of a request, or nothing of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from app.access import Role
from app.audit.models import AuditEntry
from app.db import prepared
from app.email.models import OutboxMessage, OutboxStatus
from app.invitations.models import Invitation
from app.staff.models import AccountStatus, Staff
from tests.factories import (
    Api,
    Member,
    SmtpSink,
    error_codes,
    free_port,
    get_row,
    log_in_again,
    make_member,
    make_tenant,
)

ROOT = Path(__file__).resolve().parents[2]

BULK = """mutation($rows: [InvitationCreateInput!]!) {
  invitationBulkCreate(input: {rows: $rows}) {
    createdCount
    results { email invitation { id } userErrors { code } }
    userErrors { code }
  }
}"""
STAFF_INVITE = """mutation($input: StaffCreateInput!) {
  staffCreate(input: $input) { staff { id accountStatus } userErrors { code } }
}"""


async def count_rows(services, model, *where) -> int:
    async with services.db.session() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def written_for(services, account_id: int, emails: list[str]) -> dict[str, int]:
    """How many invitation, staff and outbox rows exist for these addresses."""
    return {
        "invitations": await count_rows(
            services, Invitation, Invitation.account_id == account_id, Invitation.email.in_(emails)
        ),
        "staff": await count_rows(
            services, Staff, Staff.account_id == account_id, Staff.email.in_(emails)
        ),
        "outbox": await outbox_count(services, emails),
    }


async def outbox_count(services, emails: list[str]) -> int:
    wanted = set(emails)
    async with services.db.session() as session:
        addresses = await session.scalars(select(OutboxMessage.to_addrs))
        return sum(1 for to in addresses if wanted & set(to))


def assert_masked(response: httpx.Response, *leaks: str) -> None:
    """An INTERNAL_SERVER_ERROR that says nothing but "Unexpected error." and a request id."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR",
        "requestId": response.headers["x-request-id"],
    }
    for text in ("Traceback", "sqlalchemy", "OperationalError", "INSERT", *leaks):
        assert text.lower() not in response.text.lower(), response.text


@contextlib.contextmanager
def database_fails(services, *, on_statement: str | None = None, nth: int = 1, at_commit=False):
    """The connection dies at the ``nth`` statement starting with ``on_statement`` (or at
    COMMIT): it is invalidated (closed) and the driver's error is raised, as when the
    database server goes away."""
    engine = services.db.engine.sync_engine
    seen = {"n": 0, "fired": False}
    message = "server closed the connection unexpectedly (secret-detail-42)"

    def cut(conn):
        seen["fired"] = True
        conn.invalidate()
        raise OperationalError("COMMIT" if at_commit else "statement", {}, OSError(message))

    def before_execute(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().lower().startswith(on_statement):
            seen["n"] += 1
            if seen["n"] == nth:
                cut(conn)

    def before_commit(conn):
        cut(conn)

    def prepared_sent(pool, statement):
        # reads sent straight to the driver (app.db.prepared): the driver's error
        if pool is engine.pool and statement.lstrip().lower().startswith(on_statement):
            seen["n"] += 1
            if seen["n"] == nth:
                seen["fired"] = True
                raise OSError(message)

    if at_commit:
        event.listen(engine, "commit", before_commit)
    else:
        event.listen(engine, "before_cursor_execute", before_execute)
        prepared.sent.append(prepared_sent)
    try:
        yield seen
    finally:
        if at_commit:
            event.remove(engine, "commit", before_commit)
        else:
            event.remove(engine, "before_cursor_execute", before_execute)
            prepared.sent.remove(prepared_sent)
    assert seen["fired"], "the fault was never injected"


# --- 1. the database goes away mid-request ---------------------------------------------------


async def test_database_lost_mid_bulk_write_is_masked_and_writes_nothing(api, services):
    tenant = await make_tenant(services)
    emails = [f"half{i}@example.com" for i in range(6)]
    rows = [{"email": e} for e in emails]
    audit_before = await count_rows(services, AuditEntry)

    with database_fails(services, on_statement="insert into invitations", nth=4):
        response = await api.raw(BULK, {"rows": rows}, token=tenant.owner.token)

    assert_masked(response, "secret-detail-42", "server closed")
    # Three invitations (staff records, emails) were written before the connection died:
    # none of them is there.
    assert await written_for(services, tenant.account_id, emails) == {
        "invitations": 0,
        "staff": 0,
        "outbox": 0,
    }
    assert await count_rows(services, AuditEntry) == audit_before
    # The server recovers on a new connection: the same request now goes through whole.
    body = await api.data(BULK, {"rows": rows}, as_=tenant.owner)
    assert body["invitationBulkCreate"]["createdCount"] == 6
    assert await written_for(services, tenant.account_id, emails) == {
        "invitations": 6,
        "staff": 6,
        "outbox": 6,
    }


async def test_database_lost_at_commit_is_masked_and_writes_nothing(api, services):
    tenant = await make_tenant(services)
    staff_input = {
        "firstName": "Commit",
        "lastName": "Lost",
        "email": "commit.lost@example.com",
        "invite": True,
    }

    with database_fails(services, at_commit=True):
        response = await api.raw(STAFF_INVITE, {"input": staff_input}, token=tenant.owner.token)

    assert_masked(response, "secret-detail-42")  # no payload claiming the record exists
    assert await written_for(services, tenant.account_id, ["commit.lost@example.com"]) == {
        "invitations": 0,
        "staff": 0,
        "outbox": 0,
    }
    data = await api.data(STAFF_INVITE, {"input": staff_input}, as_=tenant.owner)
    assert data["staffCreate"]["userErrors"] == []
    assert data["staffCreate"]["staff"]["accountStatus"] == "INVITED"


@pytest.mark.parametrize(
    "document",
    [
        # its cost needs the account's number of projects: the first statement (the
        # token's) is read by the cost check, before execution
        "{ staff(first: 5) { totalCount } projects { name } }",
        # priced without the account's sizes: the token is read by a resolver
        '{ staff(first: 5) { totalCount } node(id: "UHJvamVjdDox") { id } }',
    ],
    ids=["in-the-cost-check", "in-a-resolver"],
)
async def test_database_lost_during_a_query_is_masked(api, services, document):
    tenant = await make_tenant(services)
    # documents graphql-core answers (the compiled plan hands a failed request back to
    # it, which then runs on a fresh connection)
    with database_fails(services, on_statement="select"):
        response = await api.raw(document, token=tenant.owner.token)
    assert response.status_code == 200
    body = response.json()
    # The first SELECT is the token lookup: a database failure is never mistaken for a
    # bad token (the client would throw its session away).
    assert error_codes(body) == ["INTERNAL_SERVER_ERROR"], body
    assert body["errors"][0]["message"] == "Unexpected error."
    assert "secret-detail-42" not in response.text
    data = await api.data("{ staff(first: 5) { totalCount } }", as_=tenant.owner)
    assert data["staff"]["totalCount"] == 1


# --- 2. the server process killed during a bulk invitation -----------------------------------


def server_env(database_url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    env.update(
        ROSTER_DATABASE_URL=database_url,
        ROSTER_ENV="development",
        ROSTER_EMAIL_BACKEND="memory",
        ROSTER_EMAIL_RELAY_ENABLED="false",
        ROSTER_ARGON2_TIME_COST="1",
        ROSTER_ARGON2_MEMORY_COST="1024",
        ROSTER_PUBLIC_URL="http://roster.test",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def server_process(database_url: str):
    """``uvicorn app.main:create_app --factory`` in its own process; yields (process, url)."""
    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 (starting it does not block)
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=server_env(database_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(300):
                assert process.poll() is None, process.stderr.read().decode()
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the server did not start")
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        process.stderr.close()


async def bulk_in_server(base: str, member: Member, emails: list[str]):
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        return await Api(client)(BULK, {"rows": [{"email": e} for e in emails]}, as_=member)


def all_or_nothing(written: dict[str, int], size: int) -> int:
    assert set(written.values()) in ({0}, {size}), written
    return written["invitations"]


async def test_server_killed_during_bulk_invitation_leaves_all_or_nothing(services, database_url):
    size = 200  # a request of a second or more: long enough to be killed well inside it
    tenant = await make_tenant(services, seats=5000)

    # A request that runs to the end, timed, to place the kills inside it.
    emails = [f"whole{i}@example.com" for i in range(size)]
    async with server_process(database_url) as (_, base):
        started = time.monotonic()
        body = await bulk_in_server(base, tenant.owner, emails)
        duration = time.monotonic() - started
    assert body["data"] is not None, body
    assert body["data"]["invitationBulkCreate"]["createdCount"] == size
    assert all_or_nothing(await written_for(services, tenant.account_id, emails), size) == size

    outcomes = []
    # well inside it (cold servers' requests vary in time: at 0.3 of the one timed, one had
    # once answered already), and about when it answers
    for n, fraction in enumerate((0.15, 1.4)):
        # an account each: the daily invitation limit (1000) counts per account
        tenant = await make_tenant(services, seats=5000)
        emails = [f"kill{n}.{i}@example.com" for i in range(size)]
        async with server_process(database_url) as (process, base):
            request = asyncio.create_task(bulk_in_server(base, tenant.owner, emails))
            await asyncio.sleep(duration * fraction)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            answered = None
            with contextlib.suppress(httpx.TransportError):
                answered = await request  # the connection drops, or it answered in time
        written = all_or_nothing(await written_for(services, tenant.account_id, emails), size)
        if answered is not None:  # the client was told they were all created: they are
            assert answered["data"]["invitationBulkCreate"]["createdCount"] == size
            assert written == size
        outcomes.append(written)
    # A kill well inside the request left nothing.
    assert outcomes[0] == 0, outcomes

    # The database is sound after the kills: a new server process serves and writes.
    async with server_process(database_url) as (_, base):
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            assert (await client.get("/readyz")).json()["status"] == "ok"
        emails = [f"after{i}@example.com" for i in range(10)]
        body = await bulk_in_server(base, tenant.owner, emails)
        assert body["data"]["invitationBulkCreate"]["createdCount"] == 10


# --- 3. the email relay killed mid-batch, then a new one ---------------------------------------


class HoldingSink(SmtpSink):
    """Accepts messages, except that it holds the ``hold_at``-th one (no answer) until
    released, and then refuses it: the relay never got a 250 for it."""

    def __init__(self, hold_at: int):
        super().__init__()
        self.hold_at = hold_at
        self.seen = 0
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.seen == self.hold_at:
            self.holding.set()
            await asyncio.to_thread(self.release.wait)
            return "451 Requested action aborted: connection lost"
        return await super().handle_DATA(server, session, envelope)


def relay_process(database_url: str, smtp_port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "app", "email", "relay"],
        cwd=ROOT,
        env=server_env(
            database_url,
            ROSTER_EMAIL_BACKEND="smtp",
            ROSTER_SMTP_PORT=str(smtp_port),
            ROSTER_SMTP_TIMEOUT_SECONDS="5",
            ROSTER_EMAIL_RELAY_POLL_SECONDS="0.1",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_until(predicate, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_relay_process_killed_mid_batch_then_a_new_relay_sends_each_email_once(
    api, services, database_url
):
    from datetime import timedelta

    from sqlalchemy import update

    from app.db.base import utcnow

    tenant = await make_tenant(services, seats=100)
    emails = [f"relay{i:02d}@example.com" for i in range(30)]
    data = await api.data(BULK, {"rows": [{"email": e} for e in emails]}, as_=tenant.owner)
    assert data["invitationBulkCreate"]["createdCount"] == 30

    sink = HoldingSink(hold_at=6).start()
    first = relay_process(database_url, sink.port)
    try:
        await wait_until(sink.holding.is_set)
        first.send_signal(signal.SIGKILL)  # while it waits for the answer to the 6th
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
        sink.release.set()
    delivered = [m["To"] for m in sink.messages]
    assert len(delivered) == 5

    async def rows() -> list[OutboxMessage]:
        async with services.db.session() as session:
            return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    sent = {m.to_addrs[0] for m in await rows() if m.status == OutboxStatus.SENT}
    assert sent == set(delivered)  # what the mail server took was recorded as sent

    second = relay_process(database_url, sink.port)
    try:
        # Only the message the killed relay was sending stays leased to it for a while; the
        # new relay sends everything else meanwhile, and nothing that was already delivered.
        await wait_until(lambda: len(sink.envelopes) >= 5 + (30 - 6))
        await asyncio.sleep(0.5)
        assert len(sink.envelopes) == 29
        async with services.db.session(write=True) as session:  # the lease runs out
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.locked_until.is_not(None))
                .values(locked_until=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
        await wait_until(lambda: len(sink.envelopes) >= 30)
        await asyncio.sleep(0.5)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=10)
        except subprocess.TimeoutExpired:
            second.kill()
        sink.stop()

    received = sorted(m["To"] for m in sink.messages)
    assert received == sorted(emails)  # every address once, none twice
    assert {m.status for m in await rows()} == {OutboxStatus.SENT}


# --- 4. concurrent role changes ----------------------------------------------------------------

ROLE_CHANGE = """mutation($id: ID!, $role: Role!) {
  staffRoleChange(input: {staffId: $id, role: $role}) { staff { role } userErrors { code } }
}"""
TRANSFER = """mutation($id: ID!, $password: String!) {
  accountOwnershipTransfer(input: {staffId: $id, password: $password}) {
    owner { id } userErrors { code }
  }
}"""
DISABLE = """mutation($id: ID!) {
  staffDisable(input: {staffId: $id}) { staff { accountStatus } userErrors { code } }
}"""
ENABLE = """mutation($id: ID!) {
  staffEnable(input: {staffId: $id}) { staff { accountStatus } userErrors { code } }
}"""


async def owners(services, account_id: int) -> list[Staff]:
    async with services.db.session() as session:
        return list(
            await session.scalars(
                select(Staff).where(Staff.account_id == account_id, Staff.role == Role.OWNER)
            )
        )


@pytest.mark.parametrize("rounds", [4])
async def test_concurrent_role_changes_keep_exactly_one_active_owner(api, services, rounds):
    from tests.factories import PASSWORD

    tenant = await make_tenant(services, seats=50)
    admins = [await make_member(services, tenant, Role.ADMINISTRATOR) for _ in range(3)]
    editors = [await make_member(services, tenant, Role.EDITOR) for _ in range(3)]
    viewers = [await make_member(services, tenant, Role.VIEWER) for _ in range(2)]
    people = {m.staff_pk: m for m in [tenant.owner, *admins, *editors, *viewers]}

    for round_ in range(rounds):
        [owner_row] = await owners(services, tenant.account_id)
        owner = people[owner_row.id]
        others = [m for m in people.values() if m.staff_pk != owner.staff_pk]
        calls = []
        for n, target in enumerate(others):
            calls.append(api(TRANSFER, {"id": target.staff_id, "password": PASSWORD}, as_=owner))
            calls.append(api(ROLE_CHANGE, {"id": target.staff_id, "role": "EDITOR"}, as_=owner))
            calls.append(
                api(ROLE_CHANGE, {"id": target.staff_id, "role": "ADMINISTRATOR"}, as_=owner)
            )
            calls.append(
                api(DISABLE if (n + round_) % 2 else ENABLE, {"id": target.staff_id}, as_=owner)
            )
            for actor in others[:3]:  # administrators (or ex-) acting on the others, too
                if actor is not target:
                    calls.append(
                        api(ROLE_CHANGE, {"id": target.staff_id, "role": "VIEWER"}, as_=actor)
                    )
                    calls.append(
                        api(TRANSFER, {"id": target.staff_id, "password": PASSWORD}, as_=actor)
                    )
        bodies = await asyncio.gather(*calls)

        for body in bodies:
            assert "INTERNAL_SERVER_ERROR" not in error_codes(body), body
        [owner_row] = await owners(services, tenant.account_id)
        assert owner_row.account_status == AccountStatus.ACTIVE, round_
        assert owner_row.user_id is not None
        # The owner can act as the owner: the account has one, and it is them.
        new_owner = people[owner_row.id]
        viewer = await api.data("{ viewer { role } }", as_=new_owner)
        assert viewer["viewer"]["role"] == "OWNER"
        listed = await api.data("{ staff(first: 100) { edges { node { role } } } }", as_=new_owner)
        assert [e["node"]["role"] for e in listed["staff"]["edges"]].count("OWNER") == 1
        # put everyone back to work for the next round
        for member in people.values():
            row = await get_row(services, Staff, member.staff_pk)
            if row.account_status == AccountStatus.DISABLED:
                body = await api.data(ENABLE, {"id": member.staff_id}, as_=new_owner)
                assert body["staffEnable"]["userErrors"] == []
                # disabling ended their sessions for good: they log in again
                await log_in_again(services, member)
