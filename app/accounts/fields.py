"""The account's field table (see ``app.fields``): nothing personal, nothing secret."""

from __future__ import annotations

from app.fields import Audit, Field, FieldTable, Visibility, register, rows

ACCOUNTS = FieldTable(
    "accounts",
    [
        Field("id", Visibility.INTERNAL),
        *rows(Visibility.BASIC, "slug", "name", "plan", "seat_limit", "created_at"),
        *rows(Visibility.BASIC, "everyone_can_invite", "invitation_expiry_days"),
        *rows(Visibility.BASIC, "join_link_role", "join_link_expiry_days"),
        Field("join_link_requires_approval", Visibility.BASIC),
        Field("timezone", Visibility.BASIC),
        *rows(Visibility.BASIC, "guests_take_seats", "self_signup", "scim_invites"),
        # a signed-up account's slug until its owner confirms their email (then None)
        Field("pending_slug", Visibility.INTERNAL),
        # the last sid given out: moves with every staff record added
        Field("staff_seq", Visibility.INTERNAL, audit=Audit.IGNORED, counts="staff.sid"),
    ],
)

register(ACCOUNTS)
