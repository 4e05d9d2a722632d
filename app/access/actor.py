"""Who is asking, in which account, with which permits (computed once per request)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.access.roles import ROLE_RANK, Permit, Role, may_assign

if TYPE_CHECKING:
    from app.access.scopes import Scope
    from app.accounts.models import Account


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    account_id: int
    staff_id: int
    role: Role
    permits: frozenset[Permit]
    token_id: int | None = None
    shared_staff_ids: frozenset[int] = field(default_factory=frozenset)
    impersonator_user_id: int | None = None
    """Set while an administrator acts as this member (see identity.impersonation)."""
    account_timezone: str = "UTC"
    """The account's time zone as the request found it (read with the account when the
    actor is built): what a staff record without one of its own is shown in."""
    scopes: frozenset[Scope] | None = None
    """An API key's scopes that count on the surface the actor was built for (its permits
    are already narrowed to them: on every surface but SCIM, never ``scim``); None for
    sessions (see ``app.access.scopes``)."""
    account: Account | None = field(default=None, compare=False, repr=False)
    """The account as the actor was built with it (from authentication, a read-only record
    of its columns): ``app.accounts.service.get_account`` answers with it instead of
    reading it again. None where the actor was made without it."""

    @property
    def impersonated(self) -> bool:
        return self.impersonator_user_id is not None

    def can(self, permit: Permit) -> bool:
        return permit in self.permits

    def outranks(self, role: Role) -> bool:
        return ROLE_RANK[self.role] > ROLE_RANK[role]

    def may_assign(self, role: Role) -> bool:
        """Nobody hands out a role above their own, and OWNER is never handed out."""
        return may_assign(self.role, role)
