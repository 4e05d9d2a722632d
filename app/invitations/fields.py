"""Field tables of invitations, join links and join requests (see ``app.fields``)."""

from __future__ import annotations

from app.fields import Audit, Field, FieldTable, Visibility, register, rows

INVITATIONS = FieldTable(
    "invitations",
    [
        *rows(Visibility.INTERNAL, "id", "account_id", "staff_id", "inviter_staff_id"),
        Field("created_by_token_id", Visibility.INTERNAL),
        Field("accepted_user_id", Visibility.INTERNAL),
        Field("email", Visibility.PERSONAL),
        *rows(Visibility.BASIC, "role", "bcc_inviter", "redirect_url", "status"),
        *rows(Visibility.BASIC, "expiry_days", "expires_at", "sent_count", "last_sent_at"),
        *rows(Visibility.BASIC, "accepted_at", "revoked_at", "created_at"),
        # the inviter's free text, the message and the email's subject, which may say
        # anything (an offer, a salary): personal data as the address it goes to is
        # (``service.shows_personal``), never copied into the log
        Field("message", Visibility.PERSONAL, audit=Audit.REDACTED),
        Field("subject", Visibility.PERSONAL, audit=Audit.REDACTED),
        Field("token_digest", Visibility.SECRET),
    ],
)

JOIN_LINKS = FieldTable(
    "join_links",
    [
        *rows(Visibility.INTERNAL, "id", "account_id", "created_by_staff_id"),
        Field("created_by_token_id", Visibility.INTERNAL),
        Field("token_digest", Visibility.SECRET),
        *rows(Visibility.BASIC, "role", "kind", "expires_at", "max_uses", "uses"),
        Field("allowed_domains", Visibility.BASIC),
        *rows(Visibility.BASIC, "requires_approval", "disabled_at", "created_at"),
    ],
)

JOIN_REQUESTS = FieldTable(
    "join_requests",
    [
        *rows(Visibility.INTERNAL, "id", "account_id", "join_link_id", "user_id"),
        Field("decided_by_staff_id", Visibility.INTERNAL),
        *rows(Visibility.BASIC, "role", "first_name", "last_name", "status", "decided_at"),
        Field("created_at", Visibility.BASIC),
    ],
)

register(INVITATIONS, JOIN_LINKS, JOIN_REQUESTS)
