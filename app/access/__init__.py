from app.access.actor import Actor
from app.access.roles import GRANTABLE_PERMITS, ROLE_PERMITS, ROLE_RANK, Permit, Role

__all__ = ["Actor", "GRANTABLE_PERMITS", "Permit", "ROLE_PERMITS", "ROLE_RANK", "Role"]
