"""The operator's import (``roster staff import``) is made at the console, as the console's
backup is: it acts with the owner's rights, but neither its audit entry nor the webhook
events of its rows name the owner (or anyone) as having made it."""

from __future__ import annotations

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.events.models import Event
from app.staff.bulk_import import import_as_owner
from tests.factories import make_tenant
from tests.staff.test_bulk_import import to_csv


async def test_the_console_import_is_logged_as_made_at_the_console(services):
    tenant = await make_tenant(services)
    rows = [{"firstName": "Con", "lastName": "Sole", "email": "con.sole@example.com"}]
    report = await import_as_owner(services.settings, tenant.slug, to_csv(rows), apply=True)
    assert report.applied

    async with services.db.session() as session:
        entries = list(
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.account_id == tenant.account_id,
                    AuditEntry.action == "staffImport",
                )
            )
        )
        events = list(
            await session.scalars(select(Event).where(Event.account_id == tenant.account_id))
        )
    assert [(e.actor_user_id, e.actor_staff_id, e.actor_name) for e in entries] == [
        (None, None, None)
    ]
    assert [c["table"] for c in entries[0].diff] == ["staff"]  # what it did is all there
    assert events and {(e.actor_user_id, e.actor_staff_id) for e in events} == {(None, None)}


async def test_the_console_imports_invitations_name_no_inviter(services):
    """``--invite``: the invitations are the operator's, not the owner's: they name no
    inviter, and their email says a member of the account invited its reader."""
    from app.invitations.models import Invitation
    from tests.factories import take_mail

    tenant = await make_tenant(services, "Console Co")
    await take_mail(services)
    rows = [{"firstName": "In", "lastName": "Vitee", "email": "in.vitee@example.com"}]
    report = await import_as_owner(
        services.settings, tenant.slug, to_csv(rows), apply=True, invite=True
    )
    assert report.applied
    async with services.db.session() as session:
        invitation = await session.scalar(
            select(Invitation).where(Invitation.account_id == tenant.account_id)
        )
    assert invitation is not None and invitation.inviter_staff_id is None
    [message] = await take_mail(services)
    assert message["To"] == "in.vitee@example.com"
    text = message.get_body(("plain",)).get_content()
    assert "A member of Console Co invited you" in text
    assert "Owner invited you" not in text  # the owner's record: last name "Owner"
