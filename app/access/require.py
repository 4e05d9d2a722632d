"""The one place that says "you may not": each rule, one wording.

``require(actor, permit)`` refuses an actor without the permit, with a message made from
the permit's row in ``PERMIT_ALLOWS`` (what it lets a member do), so every service that
needs the same permit refuses in the same words.
"""

from __future__ import annotations

from typing import Protocol

from app.access.actor import Actor
from app.access.roles import PERMIT_ALLOWS, Permit, Role
from app.errors import AccessDenied

WHILE_IMPERSONATING = "Not allowed while logged in as another member."
WITH_AN_API_KEY = (
    "Not allowed with an API key: sign in as yourself to manage your login, sessions and keys."
)

# Permits that are never used through an impersonation token, even by one that carries them.
NOT_WHILE_IMPERSONATING: frozenset[Permit] = frozenset({Permit.MANAGE_BILLING})


def permit_name(permit: Permit) -> str:
    """The permit as documents name it: VIEW_PERSONAL_DATA -> ViewPersonalData."""
    return "".join(word.capitalize() for word in permit.value.split("_"))


def denial(permit: Permit) -> str:
    return (
        f"Only members who may {PERMIT_ALLOWS[permit]} may do this "
        f"(the {permit_name(permit)} permit)."
    )


def require(actor: Actor, permit: Permit) -> None:
    """Raise AccessDenied (top-level FORBIDDEN) unless ``actor`` holds ``permit``."""
    if not actor.can(permit):
        raise AccessDenied(denial(permit))
    if permit in NOT_WHILE_IMPERSONATING:
        refuse_impersonation(actor)


def refuse_impersonation(actor: Actor) -> None:
    """Raise AccessDenied when ``actor`` acts through an impersonation token."""
    if actor.impersonated:
        raise AccessDenied(WHILE_IMPERSONATING)


class Credential(Protocol):
    """What a request signed in with, as an Actor or a Principal reads it."""

    @property
    def impersonator_user_id(self) -> int | None: ...

    @property
    def scopes(self) -> frozenset | None: ...


def own_session_refusal(who: Credential) -> str | None:
    """Why ``who`` may not manage a user's own credentials (create or revoke API keys,
    change the password, ask for an email change or a verification email), or None when
    it is the user's own signed-in session.

    A credential never begets or outlives-by-proxy another: an API key (whatever its
    scopes; a key's ``scopes`` are never None) could otherwise mint longer-lived keys
    that survive its revocation, and an impersonation token acts for someone else.
    """
    if who.impersonator_user_id is not None:
        return WHILE_IMPERSONATING
    if who.scopes is not None:
        return WITH_AN_API_KEY
    return None


def require_own_session(who: Credential) -> None:
    """Raise AccessDenied (top-level FORBIDDEN) unless ``who`` is the user's own session."""
    if (refusal := own_session_refusal(who)) is not None:
        raise AccessDenied(refusal)


def require_owner(actor: Actor) -> None:
    """Raise AccessDenied unless ``actor`` is the account's owner (not just holds its permits)."""
    require(actor, Permit.MANAGE_BILLING)
    if actor.role != Role.OWNER:
        raise AccessDenied("Only the account's owner may do this.")


def require_project_management(actor: Actor) -> None:
    """Raise AccessDenied unless ``actor`` may create, change and delete projects and their
    members (on every surface: GraphQL, SCIM Groups). Projects are account administration
    (MANAGE_ACCOUNT), so an API key needs the ``admin`` scope for it, besides ``scim`` to
    reach the SCIM endpoint."""
    require(actor, Permit.MANAGE_ACCOUNT)


# What reads every record whole, outside the directory's per-record rules (the account's
# backup, the audit log's diffs of every record): administering the account, and reading
# the directory with the details of restricted records. Administrators hold all three; an
# API key needs the ``admin`` and ``staff:read`` scopes.
WHOLE_RECORDS: tuple[Permit, ...] = (
    Permit.MANAGE_ACCOUNT,
    Permit.VIEW_STAFF,
    Permit.VIEW_RESTRICTED_STAFF,
)


def require_whole_records(actor: Actor) -> None:
    """Raise AccessDenied unless ``actor`` holds every permit of ``WHOLE_RECORDS``."""
    for permit in WHOLE_RECORDS:
        require(actor, permit)
