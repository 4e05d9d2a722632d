"""A statement that fails unexpectedly is logged with its traceback (``app.main``'s
unexpected-error handling): its bound values, a password hash or a token's digest among
them, are never part of the error's text."""

import logging

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from app.identity.models import User
from tests.factories import make_user

MARKER = "$argon2id$v=19$m=65536,t=3,p=4$not-for-any-log"


async def test_a_failed_statement_names_none_of_its_values(services, caplog):
    taken = await make_user(services)
    with pytest.raises(IntegrityError) as failed:
        async with services.db.session(write=True) as session:
            await session.execute(
                insert(User).values(email=taken.email, password_hash=MARKER)  # a duplicate
            )
    logging.getLogger("roster.test").error("unexpected", exc_info=failed.value)
    assert "password_hash" in str(failed.value)  # the statement is still told
    assert MARKER not in str(failed.value)
    assert taken.email not in str(failed.value)
    assert MARKER not in caplog.text
