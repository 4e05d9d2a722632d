"""SSN and salary are encrypted at rest, bound to their row and column, and keys rotate."""

from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text, update

from app.main import create_app
from app.security.crypto import DecryptionError, Keyring
from app.security.key_rotation import rotate_keys
from app.services import Services
from app.staff.models import Staff
from app.staff.service import associated_data, read_secret
from tests.conftest import make_settings
from tests.factories import Api, gid, make_tenant

SSN = "987-65-4321"
SALARY = 123457.89
CREATE = """mutation($input: StaffCreateInput!) {
  staffCreate(input: $input) { staff { id ssn salary } userErrors { field code } }
}"""
READ = """query($id: ID!) { node(id: $id) { ... on Staff { lastName ssn salary } } }"""


async def create_secret_staff(api, member, last_name="Zyxwvutsrq", ssn=SSN, salary=SALARY) -> str:
    data = await api.data(
        CREATE,
        {"input": {"firstName": "Pat", "lastName": last_name, "ssn": ssn, "salary": salary}},
        as_=member,
    )
    payload = data["staffCreate"]
    assert payload["userErrors"] == []
    assert (payload["staff"]["ssn"], payload["staff"]["salary"]) == (ssn, salary)
    return payload["staff"]["id"]


def sqlite_bytes(database_url: str) -> bytes:
    path = Path(database_url.split(":///", 1)[1])
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    return data


async def test_database_never_holds_ssn_or_salary_in_plaintext(api, services, settings, backend):
    tenant = await make_tenant(services)
    await create_secret_staff(api, tenant.owner)
    secrets = (SSN, "987654321", str(SALARY), "123457")
    if backend == "sqlite":
        stored = sqlite_bytes(settings.database_url)
        # The file holds what was committed: the plain last name is there, the secrets not.
        assert b"Zyxwvutsrq" in stored
        for plain in secrets:
            assert plain.encode() not in stored
        return
    async with services.db.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT ssn_encrypted, salary_encrypted, staff::text FROM staff"
                    " WHERE last_name = 'Zyxwvutsrq'"
                )
            )
        ).one()
    ssn_stored, salary_stored, whole_row = row
    assert ssn_stored and salary_stored
    assert "Zyxwvutsrq" in whole_row
    for plain in secrets:
        assert plain not in ssn_stored
        assert plain not in salary_stored
        assert plain not in whole_row


async def test_same_value_encrypts_differently_each_time(api, services):
    tenant = await make_tenant(services)
    await create_secret_staff(api, tenant.owner, last_name="One")
    await create_secret_staff(api, tenant.owner, last_name="Two")
    async with services.db.session() as session:
        stored = list(
            await session.scalars(
                select(Staff.ssn_encrypted).where(Staff.ssn_encrypted.is_not(None))
            )
        )
    assert len(stored) == 2 and stored[0] != stored[1]


def test_ciphertext_is_bound_to_account_column_and_row():
    keyring = Keyring.parse(f"k1:{Keyring.generate_key()}")
    sealed = keyring.encrypt(SSN, associated_data(7, "ssn", 3))
    assert sealed.startswith("k1:")
    assert SSN not in sealed
    assert keyring.decrypt(sealed, associated_data(7, "ssn", 3)) == SSN
    for elsewhere in (
        associated_data(7, "ssn", 4),  # another row
        associated_data(7, "salary", 3),  # another column
        associated_data(8, "ssn", 3),  # another account
    ):
        with pytest.raises(DecryptionError):
            keyring.decrypt(sealed, elsewhere)
    tampered = sealed[:-2] + ("AA" if not sealed.endswith("AA") else "BB")
    with pytest.raises(DecryptionError):
        keyring.decrypt(tampered, associated_data(7, "ssn", 3))
    other_key = Keyring.parse(f"k1:{Keyring.generate_key()}")
    with pytest.raises(DecryptionError):
        other_key.decrypt(sealed, associated_data(7, "ssn", 3))


async def test_stored_ciphertext_copied_to_another_row_or_column_fails(api, services, settings):
    tenant = await make_tenant(services)
    source = await create_secret_staff(api, tenant.owner, last_name="Source")
    await create_secret_staff(api, tenant.owner, last_name="Target", ssn="111-22-3333")
    async with services.db.session(write=True) as session:
        rows = {s.last_name: s for s in await session.scalars(select(Staff))}
        stolen_ssn = rows["Source"].ssn_encrypted
        await session.execute(
            update(Staff).where(Staff.id == rows["Target"].id).values(ssn_encrypted=stolen_ssn)
        )
        await session.execute(
            update(Staff).where(Staff.id == rows["Source"].id).values(salary_encrypted=stolen_ssn)
        )
        await session.commit()
    async with services.db.session() as session:
        rows = {s.last_name: s for s in await session.scalars(select(Staff))}
    keyring = settings.keyring
    assert read_secret(keyring, rows["Source"], "ssn") == SSN
    with pytest.raises(DecryptionError):
        read_secret(keyring, rows["Target"], "ssn")
    with pytest.raises(DecryptionError):
        read_secret(keyring, rows["Source"], "salary")
    assert source == gid("Staff", rows["Source"].id)


@asynccontextmanager
async def running(database_url: str, keys: str):
    """The app started with these encryption keys (a fresh process, as far as it knows)."""
    settings = make_settings(database_url, encryption_keys=keys)
    services = Services.from_settings(settings)
    app = create_app(settings, services=services)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://roster.test") as c:
            yield settings, services, Api(c)
    finally:
        await services.close()


async def test_key_rotation(database_url):
    k1, k2 = Keyring.generate_key(), Keyring.generate_key()
    async with running(database_url, f"k1:{k1}") as (_, services, api):
        tenant = await make_tenant(services)
        ids = [
            await create_secret_staff(
                api, tenant.owner, last_name=f"Person{i}", ssn=f"SSN-{i}", salary=1000.5 + i
            )
            for i in range(3)
        ]
        # one row with no secrets at all
        await api.data(
            CREATE, {"input": {"firstName": "No", "lastName": "Secrets"}}, as_=tenant.owner
        )

    async def stored_values(services) -> list[str]:
        async with services.db.session() as session:
            rows = (
                await session.execute(select(Staff.ssn_encrypted, Staff.salary_encrypted))
            ).all()
        return [v for row in rows for v in row if v is not None]

    async def read_all(api) -> list[tuple[str, float]]:
        out = []
        for staff_id in ids:
            data = await api.data(READ, {"id": staff_id}, as_=tenant.owner)
            out.append((data["node"]["ssn"], data["node"]["salary"]))
        return out

    expected = [(f"SSN-{i}", 1000.5 + i) for i in range(3)]
    async with running(database_url, f"k2:{k2},k1:{k1}") as (settings, services, api):
        assert all(v.startswith("k1:") for v in await stored_values(services))
        assert await read_all(api) == expected
        assert await rotate_keys(settings) == 3
        stored = await stored_values(services)
        assert len(stored) == 6
        assert all(v.startswith("k2:") for v in stored), stored
        assert await rotate_keys(settings) == 0  # nothing left to do

    async with running(database_url, f"k2:{k2}") as (_, services, api):
        assert await read_all(api) == expected
