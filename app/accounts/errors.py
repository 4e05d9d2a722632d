from app.errors import DomainError, ErrorCode


class SlugTaken(DomainError):
    code = ErrorCode.TAKEN

    def __init__(self):
        super().__init__("That account slug is taken.", field=["slug"])
