"""The account lock (``lock_account``) serialises seat-consuming changes of one account,
and nothing else: rows that only refer to the account are written meanwhile."""

from __future__ import annotations

import asyncio

import pytest

from app.accounts.service import lock_account
from app.audit.models import AuditEntry
from app.db.base import utcnow
from tests.factories import make_tenant


async def refer_to(services, account_id: int) -> None:
    """Writes an audit entry of the account, as a revocation does, in a transaction of
    its own."""
    async with services.db.session(write=True) as session:
        session.add(AuditEntry(account_id=account_id, action="test", target_type="Account",
                               target_id=account_id, diff=[], created_at=utcnow()))
        await session.commit()


async def test_the_lock_does_not_hold_up_rows_that_refer_to_the_account(services):
    """On PostgreSQL every insert of a row with a foreign key to the account takes a KEY
    SHARE lock on its row. FOR UPDATE made such inserts (an audit entry, a staff record)
    wait for the lock's holder, which deadlocked a join-link join (holding the account,
    waiting for an invitation) with a revocation (holding the invitation, inserting its
    audit entry); FOR NO KEY UPDATE does not make them wait."""
    if services.db.dialect != "postgresql":
        pytest.skip("SQLite serialises every write with its write lock")
    tenant = await make_tenant(services)
    async with services.db.session(write=True) as holder:
        await lock_account(holder, tenant.account_id)
        await asyncio.wait_for(refer_to(services, tenant.account_id), timeout=5)

        async def locker() -> None:
            async with services.db.session(write=True) as other:
                await lock_account(other, tenant.account_id)

        second = asyncio.create_task(locker())
        await asyncio.sleep(0.3)
        assert not second.done()  # lockers still wait for each other
        await holder.commit()
    await asyncio.wait_for(second, timeout=5)
