"""Work a public mutation does after its answer is sent (``after_response``).

A mutation that must answer alike whatever an address is (a reset request, a resent
confirmation) would otherwise tell by its time whether the address has a login: the
look-up and what follows it (a token, an email) are made after the answer, in a
transaction of their own, and audited as that mutation by no actor, as any change is.

That work belongs to the request all the same: a request whose transaction is rolled back
as a whole (``withdraw_deferred``: a GraphQL document failed as a whole by another root
field, say) did not ask for it, and it is not done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from app import after_response
from app.audit import changes
from app.audit import service as audit

_WITHDRAWN = "roster.deferred_withdrawn"  # session.info: its request was rolled back


def withdraw_deferred(session) -> None:
    """``session``'s transaction was rolled back as a whole: the work its request deferred
    (``defer_audited``) is not done."""
    session.info[_WITHDRAWN] = True


def defer_audited(
    db,
    action: str,
    work: Callable[[AsyncSession], Awaitable[None]],
    audit_as: tuple[str | None, str | None] | None,
    asked_in: AsyncSession | None = None,
) -> bool:
    """Run ``work`` after the answer, in its own write transaction, its changes audited as
    ``action`` (``audit_as`` = (request id, client address)); not if the request's
    transaction (``asked_in``) is withdrawn meanwhile (``withdraw_deferred``). False
    outside a request (nothing deferred: the caller does the work itself)."""

    async def later() -> None:
        if asked_in is not None and asked_in.info.get(_WITHDRAWN):
            return
        async with db.session(write=True) as session:
            await work(session)
            collected = changes.take(session)
            if collected:
                request_id, client_address = audit_as or (None, None)
                await audit.record(
                    session,
                    action=action,
                    who=audit.Who(user_id=None, staff_id=None, account_id=None),
                    changes=collected,
                    request_id=request_id,
                    client_address=client_address,
                )
            await session.commit()

    return after_response.defer(later)
