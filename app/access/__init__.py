from app.access.actor import Actor
from app.access.require import (
    refuse_impersonation,
    require,
    require_owner,
    require_project_management,
    require_whole_records,
)
from app.access.roles import (
    GRANTABLE_PERMITS,
    ROLE_PERMITS,
    ROLE_RANK,
    Permit,
    Role,
    role_permits,
    roles_holding,
)

__all__ = [
    "Actor",
    "GRANTABLE_PERMITS",
    "Permit",
    "ROLE_PERMITS",
    "ROLE_RANK",
    "Role",
    "refuse_impersonation",
    "require",
    "require_owner",
    "require_project_management",
    "require_whole_records",
    "role_permits",
    "roles_holding",
]
