"""The email outbox's field table (see ``app.fields``). The outbox is neither audited nor
backed up; its rows say what it holds should either ever read it."""

from __future__ import annotations

from app.fields import FieldTable, Visibility, register, rows

EMAIL_OUTBOX = FieldTable(
    "email_outbox",
    [
        *rows(Visibility.INTERNAL, "id", "account_id", "attempts", "next_attempt_at"),
        *rows(Visibility.INTERNAL, "locked_until", "lease_token"),
        *rows(Visibility.BASIC, "template", "status", "created_at", "sent_at"),
        *rows(Visibility.PERSONAL, "to_addrs", "bcc_addrs", "last_error"),
        # what the message says: links with live tokens, personal messages
        *rows(Visibility.SECRET, "sealed", "subject", "text_body", "html_body"),
    ],
)

register(EMAIL_OUTBOX)
