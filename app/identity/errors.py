from app.errors import DomainError, ErrorCode


class InvalidCredentials(DomainError):
    """The same answer for an unknown email, a wrong password, a user with no password
    and a login whose address is not confirmed yet."""

    code = ErrorCode.INVALID_CREDENTIALS

    def __init__(self):
        super().__init__(
            "Email or password is incorrect, or the address is not confirmed yet (follow the "
            "link emailed to it)."
        )


class EmailTaken(DomainError):
    code = ErrorCode.TAKEN

    def __init__(self, field: str = "email"):
        super().__init__("A user with this email already exists.", field=[field])


class WeakPassword(DomainError):
    code = ErrorCode.WEAK_PASSWORD

    def __init__(self, message: str, field: str = "password"):
        super().__init__(message, field=[field])
