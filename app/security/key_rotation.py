"""Key rotation: re-encrypt SSN, salary, pending outbox messages and webhook signing
secrets under the primary key."""

from __future__ import annotations

from sqlalchemy import or_, select

from app.db.engine import Database
from app.email.outbox import reseal_pending
from app.settings import Settings
from app.staff.models import Staff
from app.staff.service import ENCRYPTED_COLUMNS, read_secret, write_secret
from app.webhooks.service import reseal_secrets

BATCH = 500


async def rotate_keys(settings: Settings) -> int:
    """Returns how many rows were re-encrypted. Safe to run again; batches commit as they go."""
    keyring = settings.keyring
    prefix = f"{keyring.primary}:"
    db = Database(settings.database_url)
    changed = 0
    try:
        last_id = 0
        while True:
            async with db.session(write=True) as session:
                stale = [
                    or_(col.is_not(None) & ~col.startswith(prefix, autoescape=True))
                    for col in (Staff.ssn_encrypted, Staff.salary_encrypted)
                ]
                rows = list(
                    await session.scalars(
                        select(Staff)
                        .where(Staff.id > last_id, or_(*stale))
                        .order_by(Staff.id)
                        .limit(BATCH)
                    )
                )
                if not rows:
                    break
                for staff in rows:
                    for field in ENCRYPTED_COLUMNS:
                        write_secret(keyring, staff, field, read_secret(keyring, staff, field))
                changed += len(rows)
                last_id = rows[-1].id
                await session.commit()
        last_id = 0
        while last_id is not None:  # email not sent yet (sent email keeps no content)
            async with db.session(write=True) as session:
                count, last_id = await reseal_pending(session, keyring, last_id, BATCH)
                changed += count
                await session.commit()
        last_id = 0
        while last_id is not None:  # webhook signing secrets
            async with db.session(write=True) as session:
                count, last_id = await reseal_secrets(session, keyring, last_id, BATCH)
                changed += count
                await session.commit()
    finally:
        await db.dispose()
    return changed
