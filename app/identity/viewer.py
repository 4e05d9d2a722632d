"""What the authenticated user sees of themselves (the ``viewer`` query of every adapter):
their user, the accounts their token reaches, and, once an account is chosen, that account,
their own record there, their live API tokens and who is impersonating them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor
from app.accounts.models import Account
from app.accounts.service import get_account
from app.identity.models import AuthToken, User
from app.identity.service import Membership, Principal, list_api_tokens, memberships_of
from app.staff.models import Staff


@dataclass(frozen=True, slots=True)
class ViewerState:
    user: User
    memberships: list[Membership]
    """Accounts the user is an active member of that the token reaches (an API or
    impersonation token reaches its own account only)."""
    account: Account | None
    staff: Staff | None
    api_tokens: list[AuthToken]
    impersonator: User | None


async def viewer_state(
    session: AsyncSession, principal: Principal, actor: Actor | None
) -> ViewerState:
    from app.staff import service as staff_service

    user = await session.get_one(User, principal.user_id)
    memberships = [
        m
        for m in await memberships_of(session, principal.user_id)
        if principal.token_account_id in (None, m.account.id)
    ]
    account = staff = None
    tokens: list[AuthToken] = []
    if actor is not None:
        account = await get_account(session, actor)
        own = await staff_service.get_many(session, actor, [actor.staff_id])
        staff = own[actor.staff_id]
        tokens = await list_api_tokens(session, actor)
    impersonator = (
        await session.get(User, principal.impersonator_user_id)
        if principal.impersonator_user_id
        else None
    )
    return ViewerState(
        user=user,
        memberships=memberships,
        account=account,
        staff=staff,
        api_tokens=tokens,
        impersonator=impersonator,
    )
