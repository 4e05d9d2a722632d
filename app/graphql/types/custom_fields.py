from __future__ import annotations

from datetime import datetime

import strawberry

from app.custom_fields.models import CustomField as CustomFieldRow
from app.graphql.enums import CustomFieldType
from app.graphql.ids import encode_id
from app.graphql.types.common import Node


@strawberry.type(description="An account-defined field on staff records.")
class CustomField(Node):
    _row: strawberry.Private[CustomFieldRow]

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("CustomField", self._row.id))

    @strawberry.field(description="Name, unique in the account case-insensitively.")
    def name(self) -> str:
        return self._row.name

    @strawberry.field(description="Type of the values.")
    def type(self) -> CustomFieldType:
        return self._row.type

    @strawberry.field(description="Allowed values of a CHOICE field (empty otherwise).")
    def options(self) -> list[str]:
        return list(self._row.options or [])

    @strawberry.field(description="Personal data: values only for ViewPersonalData holders.")
    def personal(self) -> bool:
        return self._row.personal

    @strawberry.field(description="What the field is for.")
    def description(self) -> str | None:
        return self._row.description

    @strawberry.field(description="Archived fields keep their values but are hidden.")
    def archived(self) -> bool:
        return self._row.archived_at is not None

    @strawberry.field(description="When the field was archived.")
    def archived_at(self) -> datetime | None:
        return self._row.archived_at

    @strawberry.field(description="When the field was created.")
    def created_at(self) -> datetime:
        return self._row.created_at


@strawberry.type(description="One staff member's value of one custom field.")
class CustomFieldValue:
    field: CustomField = strawberry.field(description="The field.")
    value: str = strawberry.field(
        description="Canonical text: numbers plain decimal, dates YYYY-MM-DD, booleans "
        "true/false, choices as the option is spelled."
    )
