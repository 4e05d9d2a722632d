from app.access.actor import Actor, refusal_to_hand_out
from app.access.require import (
    own_session_refusal,
    refuse_impersonation,
    require,
    require_own_session,
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
    joining_role,
    may_assign,
    may_offer,
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
    "joining_role",
    "may_assign",
    "may_offer",
    "own_session_refusal",
    "refusal_to_hand_out",
    "refuse_impersonation",
    "require",
    "require_own_session",
    "require_owner",
    "require_project_management",
    "require_whole_records",
    "role_permits",
    "roles_holding",
]
