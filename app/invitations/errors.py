from app.errors import DomainError, ErrorCode
from app.staff.errors import AlreadyMember as AlreadyMember  # a membership error, raised here too


class AlreadyInvited(DomainError):
    code = ErrorCode.ALREADY_INVITED

    def __init__(self, field: str = "email"):
        super().__init__(
            "This person already has a pending invitation; resend it instead.", field=[field]
        )


class InvalidToken(DomainError):
    code = ErrorCode.INVALID_TOKEN

    def __init__(self):
        super().__init__("This link is not valid.", field=["token"])


class TokenUsed(DomainError):
    code = ErrorCode.TOKEN_USED

    def __init__(self):
        super().__init__("This invitation was already accepted.", field=["token"])


class TokenExpired(DomainError):
    code = ErrorCode.TOKEN_EXPIRED

    def __init__(self, what: str = "invitation"):
        super().__init__(f"This {what} has expired; ask for a new one.", field=["token"])


class InvitationRevoked(DomainError):
    code = ErrorCode.INVITATION_REVOKED

    def __init__(self):
        super().__init__("This invitation was withdrawn.", field=["token"])


class LoginRequired(DomainError):
    code = ErrorCode.LOGIN_REQUIRED

    def __init__(self):
        super().__init__(
            "This email already has a Roster login: sign in as that user (or give its "
            "password) to join.",
            field=["password"],
        )


class NotInvitable(DomainError):
    """The one answer an inviter without the ViewPersonalData permit gets for an address
    that already belongs to someone in the account (member, invited, or a record they may
    not take over): which of these it is would tell them who has which email."""

    code = ErrorCode.FORBIDDEN

    def __init__(self, field: str = "email"):
        super().__init__(
            "You cannot invite this address; ask an administrator to invite this person.",
            field=[field],
        )


class OwnersRecord(DomainError):
    """An invitation of the owner's record naming another role than the owner's: the
    owner's record is invited as the owner or not at all (``_invited_role``)."""

    code = ErrorCode.FORBIDDEN

    def __init__(self):
        super().__init__(
            "This is the owner's record: it is invited as the owner (leave the role out). "
            "Transfer ownership to change the owner's role.",
            field=["role"],
        )


class SignupClosed(DomainError):
    """No such account, or it does not take sign-ups: one answer for both."""

    code = ErrorCode.NOT_FOUND

    def __init__(self):
        super().__init__("This account does not take sign-ups.", field=["account"])
