from app.errors import DomainError, ErrorCode


class FieldNameTaken(DomainError):
    code = ErrorCode.TAKEN

    def __init__(self):
        super().__init__("A custom field with this name exists.", field=["name"])


class FieldArchived(DomainError):
    code = ErrorCode.ARCHIVED

    def __init__(self, field: list[str]):
        super().__init__("This custom field is archived.", field=field)
