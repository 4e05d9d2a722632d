from app.errors import DomainError, ErrorCode


class StaffEmailTaken(DomainError):
    code = ErrorCode.TAKEN

    def __init__(self, field: str = "email"):
        super().__init__("Another staff member of this account has this email.", field=[field])


class ExternalIdTaken(DomainError):
    code = ErrorCode.TAKEN

    def __init__(self):
        super().__init__(
            "Another staff member of this account has this external id.", field=["external_id"]
        )


class ManagerCycle(DomainError):
    code = ErrorCode.MANAGER_CYCLE

    def __init__(self):
        super().__init__(
            "A staff member cannot report to themselves, directly or indirectly.",
            field=["manager_id"],
        )


class AlreadyMember(DomainError):
    code = ErrorCode.ALREADY_MEMBER

    def __init__(self, field: str = "email"):
        super().__init__("This person is already a member of the account.", field=[field])
