from app.errors import DomainError, ErrorCode


class FieldNameTaken(DomainError):
    code = ErrorCode.TAKEN

    def __init__(self):
        super().__init__("A custom field with this name exists.", field=["name"])


class FieldArchived(DomainError):
    code = ErrorCode.ARCHIVED

    def __init__(self, field: list[str]):
        super().__init__("This custom field is archived.", field=field)


class FieldNameReserved(DomainError):
    """A name the staff CSV export already gives a column of its own: the field's column
    would be a second one of that header, and the export would not import again."""

    code = ErrorCode.TAKEN

    def __init__(self, name: str):
        super().__init__(
            f"{name!r} is a column of the staff CSV export; choose another name.",
            field=["name"],
        )
