"""Small async factories and a GraphQL client helper. Each test builds the rows it needs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

from app.access import Role
from app.accounts.models import Account
from app.accounts.service import create_account, next_staff_sid
from app.identity import service as identity
from app.identity.models import TokenKind, User
from app.staff.models import AccountStatus, Staff
from app.validation import name_key

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


@dataclass
class Member:
    """A user with a login in an account: their staff id (global), token and realm."""

    user_id: int
    staff_pk: int
    staff_id: str
    email: str
    token: str
    realm: str
    role: Role

    @property
    def auth(self) -> dict:
        return {"token": self.token, "realm": self.realm}


@dataclass
class Tenant:
    account_id: int
    slug: str
    owner: Member


def gid(type_name: str, pk: int) -> str:
    from app.graphql.ids import encode_id

    return encode_id(type_name, pk)


async def make_user(services, email: str | None = None, password: str = PASSWORD) -> User:
    email = email or f"user{next(_counter)}@example.com"
    async with services.db.session(write=True) as session:
        user = await identity.create_user(
            session, services.passwords, email=email, password=password, verified=True
        )
        await session.commit()
        return user


async def _token(session, user: User) -> str:
    token, _ = await identity.issue_token(
        session, user, kind=TokenKind.SESSION, ttl=timedelta(hours=1)
    )
    return token


async def log_in_again(services, member: Member) -> Member:
    """``member`` with a new session token (as after logging in again, e.g. once re-enabled)."""
    async with services.db.session(write=True) as session:
        token = await _token(session, await session.get(User, member.user_id))
        await session.commit()
    member.token = token
    return member


async def make_tenant(services, name: str | None = None, *, seats: int = 50) -> Tenant:
    n = next(_counter)
    name = name or f"Tenant {n}"
    user = await make_user(services, f"owner{n}@example.com")
    async with services.db.session(write=True) as session:
        user = await session.get(User, user.id)
        account, staff = await create_account(
            session, name=name, owner=user, slug=f"tenant-{n}", seat_limit=seats,
            owner_last_name="Owner",
        )
        token = await _token(session, user)
        await session.commit()
    owner = Member(user.id, staff.id, gid("Staff", staff.id), user.email, token, account.slug,
                   Role.OWNER)
    return Tenant(account.id, account.slug, owner)


async def make_member(
    services, tenant: Tenant, role: Role = Role.VIEWER, *, email: str | None = None, **fields
) -> Member:
    """An ACTIVE member with a login and a session token."""
    user = await make_user(services, email)
    async with services.db.session(write=True) as session:
        account = await session.get(Account, tenant.account_id)
        last = fields.pop("last_name", f"Member{next(_counter)}")
        staff = Staff(
            account_id=account.id,
            sid=await next_staff_sid(session, account.id),
            user_id=user.id,
            role=role,
            account_status=AccountStatus.ACTIVE,
            first_name=fields.pop("first_name", role.value.title()),
            last_name=last,
            last_name_key=name_key(last),
            email=user.email,
            **fields,
        )
        session.add(staff)
        await session.flush()
        token = await _token(session, await session.get(User, user.id))
        await session.commit()
    return Member(user.id, staff.id, gid("Staff", staff.id), user.email, token, account.slug, role)


class Api:
    """POSTs GraphQL to the app under test."""

    def __init__(self, client):
        self.client = client

    async def raw(self, query: str, variables: dict | None = None, *, token=None, realm=None,
                  headers: dict | None = None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        if realm:
            h["X-Auth-Realm"] = realm
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=h
        )

    async def __call__(
        self, query: str, variables: dict | None = None, *, as_: Member | None = None,
        token=None, realm=None,
    ) -> dict:
        if as_ is not None:
            token, realm = as_.token, as_.realm
        response = await self.raw(query, variables, token=token, realm=realm)
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, variables: dict | None = None, **kw) -> dict:
        body = await self(query, variables, **kw)
        assert not body.get("errors"), body["errors"]
        return body["data"]


def error_codes(body: dict) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


async def add_membership(services, tenant: Tenant, user_id: int, role: Role = Role.VIEWER,
                         **fields) -> Member:
    """Give an existing user an ACTIVE staff record (and a fresh session token) in ``tenant``."""
    async with services.db.session(write=True) as session:
        user = await session.get(User, user_id)
        last = fields.pop("last_name", f"Member{next(_counter)}")
        staff = Staff(
            account_id=tenant.account_id,
            sid=await next_staff_sid(session, tenant.account_id),
            user_id=user.id,
            role=role,
            account_status=AccountStatus.ACTIVE,
            first_name=fields.pop("first_name", role.value.title()),
            last_name=last,
            last_name_key=name_key(last),
            email=user.email,
            **fields,
        )
        session.add(staff)
        await session.flush()
        token = await _token(session, user)
        await session.commit()
    return Member(user.id, staff.id, gid("Staff", staff.id), user.email, token, tenant.slug, role)


async def update_row(services, model, pk, **values) -> None:
    """Change columns of one row directly in the database (behind the API's back)."""
    async with services.db.session(write=True) as session:
        row = await session.get(model, pk)
        assert row is not None, f"{model.__name__} {pk} not found"
        for name, value in values.items():
            setattr(row, name, value)
        await session.commit()


async def make_staff(services, tenant: Tenant, **fields) -> Staff:
    """A staff record without a login, written straight to the database."""
    return (await make_staff_many(services, tenant, [fields]))[0]


async def make_staff_many(services, tenant: Tenant, rows: list[dict]) -> list[Staff]:
    """Several staff records (no logins) in one transaction, in the order given."""
    created = []
    async with services.db.session(write=True) as session:
        for fields in rows:
            fields = dict(fields)
            last = fields.pop("last_name", f"Staff{next(_counter)}")
            staff = Staff(
                account_id=tenant.account_id,
                sid=await next_staff_sid(session, tenant.account_id),
                first_name=fields.pop("first_name", "Sam"),
                last_name=last,
                last_name_key=name_key(last),
                **fields,
            )
            session.add(staff)
            await session.flush()
            created.append(staff)
        await session.commit()
    return created


async def set_staff_columns(services, staff_id: int, **values) -> None:
    """Change columns of a staff row behind the API's back (e.g. account_status)."""
    from sqlalchemy import update

    async with services.db.session(write=True) as session:
        await session.execute(update(Staff).where(Staff.id == staff_id).values(**values))
        await session.commit()


# --- role x operation matrices (tests/staff/test_access.py, tests/staff/test_personal_data.py,
#     tests/custom_fields/test_access.py) ---

# The rows of every access matrix: the four roles, plus a viewer and an editor holding the
# VIEW_PERSONAL_DATA grant ("+PD").
ROLE_KEYS = ("VIEWER", "VIEWER+PD", "EDITOR", "EDITOR+PD", "ADMINISTRATOR", "OWNER")
# Outcomes of a mutation: done; refused as a whole (top-level FORBIDDEN); or a field the
# actor may not write (userError FORBIDDEN, nothing written).
OK, DENIED, REFUSED = "OK", "DENIED", "REFUSED"

PERMIT_GRANT = """mutation($id: ID!) {
  staffPermitGrant(input: {staffId: $id, permit: VIEW_PERSONAL_DATA}) { userErrors { code } }
}"""


async def member_as(api: Api, services, tenant: Tenant, key: str, **fields) -> Member:
    """The member a matrix row acts as. OWNER is the tenant's owner; "+PD" members get the
    VIEW_PERSONAL_DATA grant from the owner through staffPermitGrant."""
    if key == "OWNER":
        return tenant.owner
    role, _, extra = key.partition("+")
    member = await make_member(services, tenant, Role(role), **fields)
    if extra == "PD":
        data = await api.data(PERMIT_GRANT, {"id": member.staff_id}, as_=tenant.owner)
        assert data["staffPermitGrant"]["userErrors"] == []
    return member


def outcome(body: dict, field: str) -> str:
    """OK, DENIED or REFUSED for the mutation ``field`` (any other error fails the test)."""
    codes = error_codes(body)
    if codes:
        assert codes == ["FORBIDDEN"], body
        assert (body.get("data") or {}).get(field) is None, body
        return DENIED
    errors = body["data"][field]["userErrors"]
    if errors:
        assert {e["code"] for e in errors} == {"FORBIDDEN"}, errors
        return REFUSED
    return OK


async def set_staff_secrets(services, staff_id: int, *, ssn=None, salary=None) -> None:
    """Store SSN and salary encrypted, as the service would (cleaned by their validators:
    a salary of 99000 is stored as "99000.0")."""
    from app.staff.fields import STAFF
    from app.staff.service import write_secret

    keyring = services.settings.keyring
    async with services.db.session(write=True) as session:
        staff = await session.get(Staff, staff_id)
        if ssn is not None:
            write_secret(keyring, staff, "ssn", STAFF["ssn"].cleaned(ssn))
        if salary is not None:
            write_secret(keyring, staff, "salary", str(STAFF["salary"].cleaned(salary)))
        await session.commit()


async def make_custom_field(
    services, tenant: Tenant, name: str, *, type: str = "TEXT", personal: bool = False,
    options: list[str] | None = None,
):
    """A custom field definition, written straight to the database."""
    from app.custom_fields.models import CustomField, CustomFieldType

    async with services.db.session(write=True) as session:
        field = CustomField(
            account_id=tenant.account_id,
            name=name,
            name_key=name_key(name),
            type=CustomFieldType(type),
            options=options or [],
            personal=personal,
        )
        session.add(field)
        await session.commit()
    return field


async def set_custom_value(services, tenant: Tenant, staff_id: int, field_id: int, value: str):
    from app.custom_fields.models import CustomFieldValue

    async with services.db.session(write=True) as session:
        session.add(
            CustomFieldValue(
                staff_id=staff_id, field_id=field_id, account_id=tenant.account_id, value=value
            )
        )
        await session.commit()


async def make_status(services, tenant: Tenant, name: str):
    """A staff status of the account's picklist."""
    from app.staff.models import StaffStatus

    async with services.db.session(write=True) as session:
        status = StaffStatus(account_id=tenant.account_id, name=name, name_key=name_key(name))
        session.add(status)
        await session.commit()
    return status


async def share_staff_with(services, tenant: Tenant, staff_id: int, with_staff_id: int) -> None:
    """Share a restricted record with a member, straight in the database."""
    from app.staff.models import StaffShare

    async with services.db.session(write=True) as session:
        share = StaffShare(
            staff_id=staff_id, shared_with_id=with_staff_id, account_id=tenant.account_id
        )
        session.add(share)
        await session.commit()


def role_matrix(table: dict[str, tuple]) -> list:
    """pytest params (case, role key, expected) from a table with one column per ROLE_KEYS."""
    import pytest

    return [
        pytest.param(case, key, expected, id=f"{case}-{key}")
        for case, row in table.items()
        for key, expected in zip(ROLE_KEYS, row, strict=True)
    ]


# --- email helpers (tests/invitations, tests/identity) ---


async def take_mail(services) -> list:
    """Run the relay until nothing is due; hand over (and forget) what was sent since last call."""
    while await services.relay.run_once():
        pass
    sent = list(services.sender.sent)
    services.sender.sent.clear()
    return sent


def mail_text(message) -> str:
    return message.get_body(("plain",)).get_content()


def mail_token(message) -> str:
    """The token of the (first) emailed link in a message."""
    import re

    found = re.search(r"token=([\w.~-]+)", mail_text(message))
    assert found, mail_text(message)
    return found.group(1)


async def outbox_bcc(services) -> dict[str, list[str]]:
    """Subject -> BCC addresses of every queued message (BCC never shows in the headers)."""
    from sqlalchemy import select

    from app.email.models import OutboxMessage

    async with services.db.session() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return {r.subject: list(r.bcc_addrs or []) for r in rows}


# --- email over a real SMTP server (tests/email, tests/web) ---


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """A real SMTP server on loopback (aiosmtpd) that keeps every envelope it accepts.

    ``stop()`` takes it down (connections are refused); ``start()`` brings it back on the
    same port.
    """

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.envelopes: list = []
        # address -> the reply its RCPT TO gets instead of 250 (a mailbox that is gone, full)
        self.refused: dict[str, str] = {}
        self._controller = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.refused.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        if self._controller is None:
            self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
            self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list:
        """The accepted messages, parsed (``email.message.EmailMessage``)."""
        import email
        import email.policy

        return [
            email.message_from_bytes(e.original_content or e.content, policy=email.policy.default)
            for e in self.envelopes
        ]

    async def wait_for(self, count: int, seconds: float = 10.0) -> list:
        """The messages, once ``count`` have arrived (fails after ``seconds``)."""
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while len(self.envelopes) < count:
            assert loop.time() < deadline, f"{len(self.envelopes)} of {count} emails arrived"
            await asyncio.sleep(0.05)
        return self.messages


# --- administration (tests/staff/test_membership.py, tests/identity/test_impersonation.py) ---


async def get_row(services, model, pk):
    """One row as the database holds it now (None when it is gone)."""
    async with services.db.session() as session:
        return await session.get(model, pk)


async def make_api_token(services, tenant: Tenant, member: Member, scopes=None) -> str:
    """An API token of ``member`` bound to ``tenant`` (as apiTokenCreate would make), with
    ``scopes`` (None: the legacy ones)."""
    async with services.db.session(write=True) as session:
        user = await session.get(User, member.user_id)
        token, _ = await identity.issue_token(
            session,
            user,
            kind=TokenKind.API,
            ttl=timedelta(days=30),
            account_id=tenant.account_id,
            name="integration",
            scopes=scopes,
        )
        await session.commit()
    return token


async def set_token_columns(services, token: str, **values) -> None:
    """Change columns of the token row behind ``token`` (e.g. expires_at) in the database."""
    from sqlalchemy import update

    from app.identity.models import AuthToken
    from app.security.tokens import token_digest

    async with services.db.session(write=True) as session:
        result = await session.execute(
            update(AuthToken).where(AuthToken.digest == token_digest(token)).values(**values)
        )
        assert result.rowcount == 1, "no such token"
        await session.commit()


async def insert_staff_rows(services, tenant: Tenant, rows: list[dict]) -> list[int]:
    """Many staff records (no logins) in one bulk INSERT, fast; returns their sids in order.

    Each dict holds Staff columns (``first_name`` and ``last_name`` at least); every dict
    must have the same keys.
    """
    from sqlalchemy import insert, update

    async with services.db.session(write=True) as session:
        last = await session.scalar(
            update(Account)
            .where(Account.id == tenant.account_id)
            .values(staff_seq=Account.staff_seq + len(rows))
            .returning(Account.staff_seq)
        )
        first_sid = last - len(rows) + 1
        values = [
            {
                "account_id": tenant.account_id,
                "sid": first_sid + i,
                "last_name_key": name_key(row["last_name"]),
                **row,
            }
            for i, row in enumerate(rows)
        ]
        await session.execute(insert(Staff), values)
        await session.commit()
    return [first_sid + i for i in range(len(rows))]


# --- an account with personal data to export (tests/staff/test_export.py, tests/accounts) ---

SSN = "123-45-6789"


async def make_people(services) -> tuple[Tenant, Staff, Staff]:
    """An account with a plain and a restricted record, custom fields and personal data."""
    tenant = await make_tenant(services)
    plain = await make_staff(
        services, tenant, first_name="Pia", last_name="Plain", title="Engineer",
        email="pia.plain@example.com", phone_cell="+1 555 0101", address_street="1 Main St",
        capacity=120, home_timezone="Europe/Oslo",
    )  # fmt: skip
    secret = await make_staff(
        services, tenant, first_name="Rex", last_name="Restricted", title="Agent",
        email="rex@example.com", capacity=100, home_timezone="Europe/Paris", restricted=True,
    )  # fmt: skip
    await set_staff_secrets(services, plain.id, ssn=SSN, salary=85123.45)
    await set_staff_secrets(services, secret.id, ssn="999-88-7777", salary=99000)
    nickname = await make_custom_field(services, tenant, "Nickname")
    shoe = await make_custom_field(services, tenant, "Shoe size", personal=True)
    for staff, nick, size in ((plain, "Pip", "EU 38"), (secret, "Rexy", "EU 45")):
        await set_custom_value(services, tenant, staff.id, nickname.id, nick)
        await set_custom_value(services, tenant, staff.id, shoe.id, size)
    return tenant, plain, secret


def owner_actor(tenant: Tenant):
    """The tenant's owner as the domain's services see them (a session's actor)."""
    from app.access import ROLE_PERMITS, Actor

    return Actor(
        user_id=tenant.owner.user_id,
        account_id=tenant.account_id,
        staff_id=tenant.owner.staff_pk,
        role=Role.OWNER,
        permits=ROLE_PERMITS[Role.OWNER],
    )


async def until_waiting_on_a_lock(services, task) -> None:
    """Until a PostgreSQL session of the database waits for a lock (``task``'s, held back by
    the test's open transaction), or ``task`` is done without waiting; at most 10 s."""
    import asyncio

    from sqlalchemy import text

    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(500):
        async with services.db.session() as look:
            if await look.scalar(waiting) or task.done():
                return
        await asyncio.sleep(0.02)


async def waiting_for_a_lock(holder, seconds: float = 20.0) -> None:
    """Until a backend of the database waits for a lock that the asyncpg connection
    ``holder`` holds (PostgreSQL; fails after ``seconds``): a concurrent request has
    reached the row it must wait for, however loaded the machine."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    pid = holder.get_server_pid()
    while not await holder.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", pid
    ):
        assert loop.time() < deadline, "no request came to wait for the lock"
        await asyncio.sleep(0.02)


async def answered_across_a_delete(database_url: str, deletes: list[tuple[str, int]], request):
    """The answer of ``request()`` (a coroutine of the API), sent while another transaction
    has run ``deletes`` ((SQL with one ``$1``, its value) pairs) and not committed
    (PostgreSQL): the request must come to wait for that transaction, which then commits."""
    import asyncio

    import asyncpg

    other = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await other.execute("BEGIN")
        for sql, value in deletes:
            await other.execute(sql, value)
        answering = asyncio.create_task(request())
        await waiting_for_a_lock(other)
        assert not answering.done()  # it waits for the deleting transaction
        await other.execute("COMMIT")
        return await asyncio.wait_for(answering, 10)
    finally:
        await other.close()


async def audit_actions(services, account_id: int) -> list[str]:
    """The actions of the account's audit entries, oldest first."""
    from sqlalchemy import select

    from app.audit.models import AuditEntry

    async with services.db.session() as session:
        return list(
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.account_id == account_id)
                .order_by(AuditEntry.id)
            )
        )
