"""API key scopes: what a key may do, as data.

A key names its scopes; each scope stands for a set of permits (``SCOPE_PERMITS``). On
every request a key's actor holds the permits its creator holds *now* (role, grants, the
everyoneCanInvite setting) that one of its scopes *counting on that request's surface*
names, nothing else. IMPERSONATE and MANAGE_BILLING are in no scope: no key ever carries
them. Session and impersonation tokens have no scopes (``Actor.scopes`` is None) and are
not narrowed.

Surfaces (``Surface``, ``SURFACE_SCOPES``): a scope counts only on the surfaces that list
it. ``scim`` counts on the SCIM endpoint alone: it opens it (``allows(actor,
Scope.SCIM)``) and carries there what provisioning needs (reading, adding, editing and
disabling people, their emails). Everywhere else (GraphQL over HTTP and websockets, the
REST API, the exports) a key holds only the permits of its other scopes, so a key with
only ``scim`` reads there like a key without ``staff:read`` (like a guest: its creator's
own record and the people on their projects) and writes nothing. A key handed to an
identity provider is no general staff-admin key.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from app.access.actor import Actor
from app.access.roles import Permit
from app.errors import AccessDenied


class Scope(enum.StrEnum):
    STAFF_READ = "staff:read"
    STAFF_WRITE = "staff:write"
    INVITATIONS_WRITE = "invitations:write"
    PERSONAL_DATA = "personal_data"
    ADMIN = "admin"
    SCIM = "scim"


SCOPE_PERMITS: dict[Scope, frozenset[Permit]] = {
    Scope.STAFF_READ: frozenset({Permit.VIEW_STAFF, Permit.VIEW_RESTRICTED_STAFF}),
    Scope.STAFF_WRITE: frozenset(
        {Permit.EDIT_STAFF, Permit.EDIT_RESTRICTED_STAFF, Permit.ADD_STAFF}
    ),
    Scope.INVITATIONS_WRITE: frozenset({Permit.INVITE_USERS}),
    Scope.PERSONAL_DATA: frozenset({Permit.VIEW_PERSONAL_DATA}),
    Scope.ADMIN: frozenset({Permit.MANAGE_STAFF, Permit.MANAGE_ACCOUNT}),
    Scope.SCIM: frozenset(
        {
            Permit.VIEW_STAFF,
            Permit.VIEW_RESTRICTED_STAFF,
            Permit.EDIT_STAFF,
            Permit.EDIT_RESTRICTED_STAFF,
            Permit.ADD_STAFF,
            Permit.VIEW_PERSONAL_DATA,
            Permit.MANAGE_STAFF,
        }
    ),
}


class Surface(enum.StrEnum):
    """Where a request comes in, which decides which of a key's scopes count."""

    API = "api"
    """GraphQL (HTTP and websockets), the REST API, the exports: every surface but SCIM."""
    SCIM = "scim"
    """The SCIM endpoint, /scim/v2."""


# The scopes whose permits count on each surface; a scope not listed for a surface gives a
# key nothing there. ``scim`` is for provisioning through SCIM only.
SURFACE_SCOPES: dict[Surface, frozenset[Scope]] = {
    Surface.API: frozenset(
        {
            Scope.STAFF_READ,
            Scope.STAFF_WRITE,
            Scope.INVITATIONS_WRITE,
            Scope.PERSONAL_DATA,
            Scope.ADMIN,
        }
    ),
    Surface.SCIM: frozenset(
        {
            Scope.STAFF_READ,
            Scope.STAFF_WRITE,
            Scope.INVITATIONS_WRITE,
            Scope.PERSONAL_DATA,
            Scope.ADMIN,
            Scope.SCIM,
        }
    ),
}

# Scopes whose every permit the key's creator must hold (to create the key, and on each
# request to use it); any other scope needs at least one of its permits.
NEEDS_ALL: frozenset[Scope] = frozenset({Scope.SCIM})

# What API keys made before scopes existed were given: their creator's whole role.
LEGACY_SCOPES: frozenset[Scope] = frozenset(Scope) - {Scope.SCIM}

SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    Scope.STAFF_READ: "Read the directory (without it a key reads like a guest: its "
    "creator's own record and the people on their projects).",
    Scope.STAFF_WRITE: "Add and edit staff records.",
    Scope.INVITATIONS_WRITE: "Invite people, as a role whose every permit the key holds (with only "
    "this scope: guests).",
    Scope.PERSONAL_DATA: "See personal data (the ViewPersonalData permit).",
    Scope.ADMIN: "Manage members and administer the account.",
    Scope.SCIM: "Provision people through SCIM (its permits count only on the SCIM "
    "endpoint, never on GraphQL or the REST API).",
}


def scope_permits(scopes: Iterable[Scope]) -> frozenset[Permit]:
    """Every permit one of ``scopes`` names."""
    return frozenset().union(*(SCOPE_PERMITS[s] for s in scopes))


def holds(permits: frozenset[Permit] | set[Permit], scope: Scope) -> bool:
    """Whether a member with ``permits`` may use ``scope`` at all."""
    needed = SCOPE_PERMITS[scope]
    return needed <= permits if scope in NEEDS_ALL else bool(needed & permits)


def narrowed(
    permits: frozenset[Permit] | set[Permit], scopes: Iterable[Scope]
) -> frozenset[Permit]:
    """A key's permits: its creator's ``permits`` that its scopes name (a scope its
    creator no longer fully holds, when it needs all, gives nothing)."""
    usable = [s for s in scopes if holds(permits, s)]
    return frozenset(permits) & scope_permits(usable)


def on_surface(scopes: Iterable[Scope], surface: Surface) -> frozenset[Scope]:
    """The scopes of a key that count on ``surface`` (the others give it nothing there)."""
    return frozenset(scopes) & SURFACE_SCOPES[surface]


def allows(actor: Actor, scope: Scope) -> bool:
    """Whether ``actor`` may act under ``scope``. A key: it names the scope and its creator
    still holds it. Sessions: every scope they hold the permits of, except SCIM, which
    only keys open."""
    if actor.scopes is None:
        return scope is not Scope.SCIM and holds(actor.permits, scope)
    return scope in actor.scopes and holds(actor.permits, scope)


def sees_own_personal_data(actor: Actor) -> bool:
    """Whether ``actor`` sees the personal data of their own record. A session: always
    (everyone sees their own). A key: only when one of its scopes counting on this
    surface carries VIEW_PERSONAL_DATA (``personal_data``; ``scim`` on the SCIM endpoint
    only: ``Actor.scopes`` holds those); without one it sees no personal data at all, its
    creator's own record included."""
    return scopes_see_personal_data(actor.scopes)


def scopes_see_personal_data(scopes: frozenset[Scope] | None) -> bool:
    """``sees_own_personal_data`` for a token's scopes counting where it is used (None: a
    session), before an actor is chosen: what a key shows of its own login (its email)."""
    return scopes is None or Permit.VIEW_PERSONAL_DATA in scope_permits(scopes)


def require_scope(actor: Actor, scope: Scope) -> None:
    """Raise AccessDenied unless ``allows(actor, scope)``."""
    if not allows(actor, scope):
        raise AccessDenied(f"This needs an API key with the {scope.value} scope.")


def parse_scopes(stored: str | None) -> frozenset[Scope] | None:
    """Scopes as the auth_tokens.scopes column holds them (comma-separated), or None."""
    if stored is None:
        return None
    return frozenset(Scope(s) for s in stored.split(",") if s)


def format_scopes(scopes: Iterable[Scope]) -> str:
    return ",".join(sorted(Scope(s).value for s in scopes))
