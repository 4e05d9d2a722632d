from app.errors import DomainError, ErrorCode


class SlugTaken(DomainError):
    code = ErrorCode.TAKEN

    def __init__(self):
        super().__init__("That account slug is taken.", field=["slug"])


class SeatLimitReached(DomainError):
    code = ErrorCode.SEAT_LIMIT_REACHED

    def __init__(self, ledger=None):
        detail = (
            f" ({ledger.used} used, {ledger.reserved} reserved of {ledger.limit})" if ledger else ""
        )
        super().__init__(
            "No seat is free" + detail + ": upgrade the plan, remove members or revoke "
            "pending invitations."
        )


class BackupRejected(DomainError):
    """A backup that cannot be restored: unreadable, of another format or version, with a
    column or a reference this database does not know, or one the database refuses."""

    code = ErrorCode.INVALID
