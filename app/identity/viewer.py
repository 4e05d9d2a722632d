"""What the authenticated user sees of themselves (the ``viewer`` query of every adapter):
their user, the accounts their token reaches, and, once an account is chosen, that account,
their own record there, their live API tokens and who is impersonating them.

The user, the accounts and the chosen account are what authentication read with the
token (``authenticate_actor``): showing them reads nothing again. The own record, the
tokens and the impersonator are read only when asked for."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor
from app.access.scopes import Surface, on_surface, scopes_see_personal_data
from app.accounts.models import Account
from app.accounts.service import get_account
from app.identity.models import AuthToken, User
from app.identity.service import Membership, Principal, list_api_tokens, memberships_of
from app.staff.models import Staff


@dataclass(frozen=True, slots=True)
class ViewerState:
    principal: Principal
    actor: Actor | None
    user: User
    memberships: list[Membership]
    """Accounts the user is an active member of that the token reaches (an API or
    impersonation token reaches its own account only)."""
    account: Account | None

    @property
    def email_shown(self) -> bool:
        """Whether the login's email is shown: to a session, always; to an API key, only
        with ``personal_data`` (a key without it sees no personal data at all, its
        creator's own included: ``sees_own_personal_data``)."""
        scopes = self.principal.scopes
        return scopes_see_personal_data(None if scopes is None else on_surface(scopes, Surface.API))


async def viewer_state(
    session: AsyncSession, principal: Principal, actor: Actor | None
) -> ViewerState:
    user = principal.user
    if user is None:
        user = await session.get_one(User, principal.user_id)
    known = principal.memberships
    if known is None:
        known = tuple(await memberships_of(session, principal.user_id))
    memberships = [m for m in known if principal.token_account_id in (None, m.account.id)]
    account = await get_account(session, actor) if actor is not None else None
    return ViewerState(
        principal=principal, actor=actor, user=user, memberships=memberships, account=account
    )


async def own_staff(session: AsyncSession, seen: ViewerState) -> Staff | None:
    """The viewer's own record in the chosen account (None before one is chosen)."""
    from app.staff import service as staff_service

    actor = seen.actor
    if actor is None:
        return None
    own = await staff_service.get_many(session, actor, [actor.staff_id])
    return own[actor.staff_id]


async def own_api_tokens(session: AsyncSession, seen: ViewerState) -> list[AuthToken]:
    """The viewer's live API tokens in the chosen account (none before one is chosen)."""
    return await list_api_tokens(session, seen.actor) if seen.actor is not None else []


async def impersonator(session: AsyncSession, seen: ViewerState) -> User | None:
    """The administrator acting as the viewer, when impersonating."""
    user_id = seen.principal.impersonator_user_id
    return await session.get(User, user_id) if user_id else None
