"""Queue an email inside the caller's transaction: it exists if and only if the change does."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.email.models import OutboxMessage
from app.email.render import render


async def enqueue(
    session: AsyncSession,
    *,
    template: str,
    to: str,
    context: dict,
    account_id: int | None = None,
    subject: str | None = None,
    bcc: list[str] | None = None,
) -> OutboxMessage:
    rendered = render(template, context, subject)
    message = OutboxMessage(
        account_id=account_id,
        template=template,
        to_addrs=[to],
        bcc_addrs=list(bcc or []),
        subject=rendered.subject,
        text_body=rendered.text,
        html_body=rendered.html,
    )
    session.add(message)
    await session.flush()
    return message
