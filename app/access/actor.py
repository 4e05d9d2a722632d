"""Who is asking, in which account, with which permits (computed once per request)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.access.roles import (
    PERMIT_ALLOWS,
    ROLE_PERMITS,
    ROLE_RANK,
    Permit,
    Role,
    may_assign,
    may_offer,
)

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

    @property
    def api_key_id(self) -> int | None:
        """The API key the actor acts through; None for a session (only keys have
        scopes)."""
        return self.token_id if self.scopes is not None else None

    def can(self, permit: Permit) -> bool:
        return permit in self.permits

    def outranks(self, role: Role) -> bool:
        return ROLE_RANK[self.role] > ROLE_RANK[role]

    def refusal_to_hand_out(self, role: Role) -> str | None:
        """Why this actor may not give someone ``role`` (a role change, a new record, an
        invitation, a join link, an approved join request), or None. Nobody hands out a
        role above their own, OWNER is never handed out (``may_assign``), and nobody hands
        out a role that may do what they may not (``permits``): the login it makes would
        reach further than whoever made it. An API key is narrowed to its scopes, so a key
        without ``personal_data`` makes no administrator, and a key with only
        ``invitations:write`` (which reads like a guest) makes no viewer."""
        if not may_assign(self.role, role):
            return _refusal_by_rank(role)
        return self._beyond_own_permits(role)

    def refusal_to_offer(self, role: Role) -> str | None:
        """``refusal_to_hand_out`` for an invitation's role (sent, resent or revoked), where
        OWNER is the owner's own record's role, which administrators invite
        (``may_offer``): that hands out no role the record did not have."""
        if not may_offer(self.role, role):
            return "You may not invite someone above your own role."
        return None if role == Role.OWNER else self._beyond_own_permits(role)

    def _beyond_own_permits(self, role: Role) -> str | None:
        missing = ROLE_PERMITS[role] - self.permits
        if not missing:
            return None
        what = ", ".join(PERMIT_ALLOWS[p] for p in sorted(missing))
        return (
            f"The role {role.value} may {what}, which is more than {self._may()}: "
            "you may not hand it out."
        )

    def refusal_to_grant(self, permit: Permit) -> str | None:
        """Why this actor may not grant ``permit`` to a member (``staffPermitGrant``), or
        None: as with a role, nobody hands out what they may not do themselves, so a key
        without ``personal_data`` grants ViewPersonalData to nobody."""
        if permit in self.permits:
            return None
        return (
            f"The permit {permit.value} lets its holder {PERMIT_ALLOWS[permit]}, which is "
            f"more than {self._may()}: you may not grant it."
        )

    def _may(self) -> str:
        return "this API key's scopes allow" if self.scopes is not None else "you may"


def refusal_to_hand_out(by: Actor | Role, role: Role) -> str | None:
    """``Actor.refusal_to_hand_out`` for an actor; for a bare role (a backup's restore,
    which checks what its rows hand out against the owner's role), its rank alone."""
    if isinstance(by, Actor):
        return by.refusal_to_hand_out(role)
    return None if may_assign(by, role) else _refusal_by_rank(role)


def _refusal_by_rank(role: Role) -> str:
    if role == Role.OWNER:
        return "You may not hand out this role."
    return "You may not hand out a role above your own."
