"""Issuing a token and ending a user's tokens take turns (PostgreSQL): a token inserted by
a transaction not yet committed is not seen by a password reset's UPDATE of the user's
tokens, so a login that checked the old password beside a reset kept a live session
after it. Now the login waits for the reset, reads the new password, and is refused.
(SQLite's writers take turns already.)"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from app.identity.models import AuthToken, TokenKind, User
from tests.factories import PASSWORD, make_tenant, until_waiting_on_a_lock
from tests.identity.test_authentication import LOGIN


@pytest.fixture
def postgresql_only(backend):
    if backend == "sqlite":
        pytest.skip("SQLite's writer lock runs one write transaction at a time")


@pytest.mark.usefixtures("postgresql_only")
async def test_a_login_beside_a_reset_gets_no_session_that_outlives_it(api, services):
    tenant = await make_tenant(services)
    owner = tenant.owner
    new_hash = await services.passwords.hash("another long password", held=True)

    async with services.db.session(write=True) as resetting:
        # a password reset under way, as ``_set_password`` makes it: the login locked
        # and its new hash set, not yet committed
        await resetting.execute(
            select(User.id).where(User.id == owner.user_id).with_for_update()
        )
        await resetting.execute(
            update(User).where(User.id == owner.user_id).values(password_hash=new_hash)
        )
        logging_in = asyncio.create_task(
            api(LOGIN, {"email": owner.email, "password": PASSWORD})
        )
        await until_waiting_on_a_lock(services, logging_in)
        assert not logging_in.done(), "the login did not wait for the reset"
        await resetting.commit()
    body = await logging_in

    assert body["data"]["login"]["token"] is None, body
    async with services.db.session() as session:
        sessions = list(
            await session.scalars(
                select(AuthToken.id).where(
                    AuthToken.user_id == owner.user_id,
                    AuthToken.kind == TokenKind.SESSION,
                    AuthToken.revoked_at.is_(None),
                )
            )
        )
    assert len(sessions) == 1  # the owner's own, made before (this reset ends no token)
