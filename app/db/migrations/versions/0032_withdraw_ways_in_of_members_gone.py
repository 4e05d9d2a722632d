"""invitations and join links: those whose maker could no longer make them are withdrawn

Since this revision a member's invitations not yet accepted and join links last only
while the member could still make them (``app.staff.membership.withdraw_ways_in``):
disabling or deleting a member withdraws them all, a lower role those it could not make.
Members disabled or given a lower role before kept theirs, so an administrator let go
could still come back in through a join link of their own or an invitation to a second
address. They are withdrawn here as that change would have withdrawn them:

- an invitation (pending, or expired and so resendable) whose inviter is disabled, or
  whose role the inviter's role may no longer offer (above it; OWNER, the owner's record's
  own role, needs an administrator), or whose inviter may no longer invite at all (a role
  without INVITE_USERS, in an account that does not let every member invite; guests
  never): REVOKED, and its record, if it was waiting on it, NOT_INVITED again;
- a join link not turned off whose maker is disabled, is no administrator, or ranks below
  the role it hands out: turned off.

Ways in whose maker's record was deleted name nobody (the reference was cleared with it)
and are left as they are. Downgrade leaves them withdrawn: reopening them is what this
corrects.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 19:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The roles as this revision knows them (a migration does not follow the code's later
# tables): their rank, and those that invite and make links by their role alone.
RANK = {"GUEST": -1, "VIEWER": 0, "EDITOR": 1, "ADMINISTRATOR": 2, "OWNER": 3}
ADMINISTRATORS = {"ADMINISTRATOR", "OWNER"}
INVITE_BY_SETTING = {"VIEWER", "EDITOR"}


def _may_offer(by: str, role: str) -> bool:
    if role == "OWNER":
        return RANK[by] >= RANK["ADMINISTRATOR"]
    return RANK[role] <= RANK[by]


def _may_invite(by: str, everyone_can_invite: bool) -> bool:
    return by in ADMINISTRATORS or (everyone_can_invite and by in INVITE_BY_SETTING)


def upgrade() -> None:
    bind = op.get_bind()
    now = sa.bindparam("now", datetime.now(UTC), type_=sa.DateTime(timezone=True))
    invitations = bind.execute(
        sa.text(
            "SELECT i.id, i.role, i.staff_id, s.role, s.account_status, a.everyone_can_invite "
            "FROM invitations i JOIN staff s ON s.id = i.inviter_staff_id "
            "JOIN accounts a ON a.id = i.account_id "
            "WHERE i.status IN ('PENDING', 'EXPIRED')"
        )
    ).all()
    revoked, records = [], []
    for id_, role, staff_id, by, status, everyone in invitations:
        if status == "DISABLED" or not (_may_invite(by, bool(everyone)) and _may_offer(by, role)):
            revoked.append(id_)
            if staff_id is not None:
                records.append(staff_id)
    if revoked:
        bind.execute(
            sa.text(
                "UPDATE invitations SET status = 'REVOKED', revoked_at = :now WHERE id IN :ids"
            ).bindparams(now, sa.bindparam("ids", revoked, expanding=True))
        )
    if records:
        bind.execute(
            sa.text(
                "UPDATE staff SET account_status = 'NOT_INVITED' WHERE id IN :ids "
                "AND account_status IN ('INVITED', 'INVITE_EXPIRED')"
            ).bindparams(sa.bindparam("ids", records, expanding=True))
        )
    links = bind.execute(
        sa.text(
            "SELECT l.id, l.role, s.role, s.account_status FROM join_links l "
            "JOIN staff s ON s.id = l.created_by_staff_id WHERE l.disabled_at IS NULL"
        )
    ).all()
    off = [
        id_
        for id_, role, by, status in links
        if status == "DISABLED" or by not in ADMINISTRATORS or RANK[role] > RANK[by]
    ]
    if off:
        bind.execute(
            sa.text("UPDATE join_links SET disabled_at = :now WHERE id IN :ids").bindparams(
                now, sa.bindparam("ids", off, expanding=True)
            )
        )


def downgrade() -> None:
    # Nothing to undo: see the module.
    pass
