"""Field tables of users and their tokens (see ``app.fields``)."""

from __future__ import annotations

from app.fields import Audit, Field, FieldTable, Visibility, register, rows

USERS = FieldTable(
    "users",
    [
        Field("id", Visibility.INTERNAL),
        Field("email", Visibility.PERSONAL),
        Field("password_hash", Visibility.SECRET),
        *rows(Visibility.BASIC, "first_name", "last_name", "email_verified_at", "created_at"),
    ],
)

AUTH_TOKENS = FieldTable(
    "auth_tokens",
    [
        *rows(Visibility.INTERNAL, "id", "user_id", "account_id", "impersonator_user_id"),
        Field("digest", Visibility.SECRET),
        *rows(Visibility.BASIC, "kind", "name", "created_at", "expires_at", "revoked_at"),
        Field("reason", Visibility.BASIC),
        Field("scopes", Visibility.BASIC),
        # touched by every request the token makes
        Field("last_used_at", Visibility.INTERNAL, audit=Audit.IGNORED),
    ],
)

USER_TOKENS = FieldTable(
    "user_tokens",
    [
        *rows(Visibility.INTERNAL, "id", "user_id"),
        Field("digest", Visibility.SECRET),
        *rows(Visibility.BASIC, "purpose", "created_at", "expires_at", "used_at"),
    ],
)

register(USERS, AUTH_TOKENS, USER_TOKENS)
