"""Custom field definitions (their values on a staff record: ``staffCustomFieldsSet``)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.custom_fields import service as custom_fields
from app.graphql.enums import CustomFieldType
from app.graphql.ids import decode_id
from app.graphql.mutations.base import Payload, as_actor, mutation, provided
from app.graphql.types.custom_fields import CustomField

UNSET = strawberry.UNSET


@strawberry.input(description="A new custom field definition.")
class CustomFieldCreateInput:
    name: str = strawberry.field(description="Name, unique in the account case-insensitively.")
    type: CustomFieldType = strawberry.field(description="Type of the values.")
    options: list[str] | None = strawberry.field(default=None, description="CHOICE options.")
    personal: bool = strawberry.field(default=False, description="Personal data.")
    description: str | None = strawberry.field(default=None, description="What it is for.")


@strawberry.input(description="Changes to a custom field (its type cannot change).")
class CustomFieldUpdateInput:
    id: strawberry.ID = strawberry.field(description="The field.")
    name: str | None = strawberry.field(default=UNSET, description="New name.")
    options: list[str] | None = strawberry.field(default=UNSET, description="New options.")
    personal: bool | None = strawberry.field(default=UNSET, description="Personal data.")
    description: str | None = strawberry.field(default=UNSET, description="Description.")


@strawberry.input(description="The field to archive.")
class CustomFieldArchiveInput:
    id: strawberry.ID = strawberry.field(description="The field.")


@strawberry.type(description="The field, or userErrors.")
class CustomFieldPayload(Payload):
    custom_field: CustomField | None = strawberry.field(
        default=None, description="The field after the change."
    )


def _field(row, actor) -> CustomFieldPayload:
    return CustomFieldPayload(custom_field=CustomField(_row=row))


@strawberry.type
class CustomFieldMutations:
    @mutation(description="Define a custom field (administrators).")
    async def custom_field_create(
        self, info: Info, input: CustomFieldCreateInput
    ) -> CustomFieldPayload:
        return await as_actor(
            info,
            lambda session, actor: custom_fields.create_field(
                session,
                actor,
                name=input.name,
                type=input.type,
                options=input.options,
                personal=input.personal,
                description=input.description,
            ),
            _field,
        )

    @mutation(
        description="Rename a field, change its options, description or "
        "personal flag (administrators)."
    )
    async def custom_field_update(
        self, info: Info, input: CustomFieldUpdateInput
    ) -> CustomFieldPayload:
        changes = provided(input)
        field_id = decode_id(changes.pop("id"), "CustomField")
        return await as_actor(
            info,
            lambda session, actor: custom_fields.update_field(session, actor, field_id, changes),
            _field,
        )

    @mutation(description="Archive a field: values are kept but hidden (administrators).")
    async def custom_field_archive(
        self, info: Info, input: CustomFieldArchiveInput
    ) -> CustomFieldPayload:
        field_id = decode_id(input.id, "CustomField")
        return await as_actor(
            info,
            lambda session, actor: custom_fields.archive_field(session, actor, field_id),
            _field,
        )
