"""Staff records: create, update, share, permits, custom field values, statuses; and
membership (disable, enable, delete, role changes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload
from strawberry.types import Info

from app.custom_fields import service as custom_fields
from app.errors import DomainError, ErrorCode
from app.graphql.enums import Permit, Role, StaffKind
from app.graphql.errors import UserErrorCode
from app.graphql.ids import decode_id, encode_id
from app.graphql.mutations.base import Payload, as_actor, mutation, provided, public
from app.graphql.types.staff import Staff, StaffStatus
from app.invitations import add_staff
from app.invitations import service as invitations
from app.invitations.service import InvitationRequest
from app.staff import bulk_import, email_change, membership
from app.staff import service as staff_service
from app.staff.bulk_import import ImportReport, RowAction

UNSET = strawberry.UNSET


@strawberry.input(description="Parts of an address to set; omitted parts are left as they are.")
class AddressInput:
    street: str | None = strawberry.field(default=UNSET, description="Street address.")
    city: str | None = strawberry.field(default=UNSET, description="City.")
    state: str | None = strawberry.field(default=UNSET, description="State or province.")
    zip: str | None = strawberry.field(default=UNSET, description="Postal code.")
    country: str | None = strawberry.field(default=UNSET, description="Country.")


@strawberry.input(
    description="Fields of a staff record. Omitted fields are left unchanged; null clears a field."
)
class StaffFieldsInput:
    first_name: str | None = strawberry.field(default=UNSET, description="Given name.")
    last_name: str | None = strawberry.field(default=UNSET, description="Family name.")
    title: str | None = strawberry.field(default=UNSET, description="Business title.")
    company: str | None = strawberry.field(default=UNSET, description="Company.")
    manager_id: strawberry.ID | None = strawberry.field(default=UNSET, description="Manager.")
    notes: str | None = strawberry.field(default=UNSET, description="Notes.")
    is_inactive: bool | None = strawberry.field(default=UNSET, description="Inactive.")
    restricted: bool | None = strawberry.field(
        default=UNSET, description="Restrict details to administrators and those shared with."
    )
    kind: StaffKind | None = strawberry.field(default=UNSET, description="Kind of person.")
    email: str | None = strawberry.field(default=UNSET, description="Email (personal).")
    phone_cell: str | None = strawberry.field(default=UNSET, description="Cell (personal).")
    phone_work: str | None = strawberry.field(default=UNSET, description="Work (personal).")
    phone_home: str | None = strawberry.field(default=UNSET, description="Home (personal).")
    address: AddressInput | None = strawberry.field(
        default=UNSET, description="Address (personal)."
    )
    ssn: str | None = strawberry.field(default=UNSET, description="SSN (personal, encrypted).")
    salary: float | None = strawberry.field(
        default=UNSET, description="Salary (personal, encrypted)."
    )
    status_id: strawberry.ID | None = strawberry.field(default=UNSET, description="Staff status.")
    start_date: date | None = strawberry.field(
        default=UNSET, description="Start date (default today)."
    )
    term_date: date | None = strawberry.field(default=UNSET, description="Termination date.")
    capacity: float | None = strawberry.field(default=UNSET, description="Hours per month (160).")
    cost_factor: float | None = strawberry.field(default=UNSET, description="Cost factor.")
    hour_rate_type: int | None = strawberry.field(default=UNSET, description="Hour rate type.")
    rate1: float | None = strawberry.field(default=UNSET, description="Billing rate 1.")
    rate2: float | None = strawberry.field(default=UNSET, description="Billing rate 2.")
    rate3: float | None = strawberry.field(default=UNSET, description="Billing rate 3.")
    rate4: float | None = strawberry.field(default=UNSET, description="Billing rate 4.")
    rate5: float | None = strawberry.field(default=UNSET, description="Billing rate 5.")
    home_timezone: str | None = strawberry.field(default=UNSET, description="IANA time zone.")
    default_project_role_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Default project team role."
    )
    use_payroll_item: bool | None = strawberry.field(
        default=UNSET, description="Post payroll item data with timesheets."
    )
    staff_org_id: int | None = strawberry.field(
        default=UNSET, description="Organisation number, 0 or more."
    )
    post_time_as_billed: bool | None = strawberry.field(
        default=UNSET, description="Post time into a vendor bill."
    )
    external_id: str | None = strawberry.field(
        default=UNSET, description="Id in an identity provider or HR system (administrators)."
    )


def staff_changes(fields: StaffFieldsInput) -> dict:
    changes = provided(fields)
    if "manager_id" in changes:
        changes["manager_id"] = decode_id(changes["manager_id"], "Staff")
    if "status_id" in changes:
        changes["status_id"] = decode_id(changes["status_id"], "StaffStatus")
    if "default_project_role_id" in changes:
        changes["default_project_role_id"] = decode_id(
            changes["default_project_role_id"], "ProjectTeamRole"
        )
    if changes.get("address") is not None:
        changes["address"] = provided(changes["address"])
    return changes


@strawberry.input(description="Options of the invitation email sent by ADD+INVITE.")
class StaffInviteOptionsInput:
    message: str | None = strawberry.field(default=None, description="Personal message.")
    subject: str | None = strawberry.field(default=None, description="Subject line override.")
    bcc_sender: bool = strawberry.field(
        default=False,
        description="Email yourself a copy (without the link, which goes to its owner alone).",
    )
    expires_in_days: int | None = strawberry.field(default=None, description="1 to 30.")
    redirect_url: str | None = strawberry.field(
        default=None, description="Frontend page for the link (allow-listed origins)."
    )


@strawberry.input(description="A new staff record: ADD (no login), or ADD+INVITE with invite.")
class StaffCreateInput(StaffFieldsInput):
    role: Role | None = strawberry.field(
        default=UNSET,
        description="Role the person will have once they log in (blank: GUEST for customers "
        "and vendors, else VIEWER).",
    )
    invite: bool = strawberry.field(
        default=False, description="Also email an invitation (needs an email and a free seat)."
    )
    invitation: StaffInviteOptionsInput | None = strawberry.field(
        default=None,
        description="Options of the invitation email, used when `invite` is true; given "
        "without it, they are still checked (an option that would be refused is a userError "
        "at its path under `invitation`) and no email is sent.",
    )
    project_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Add the person to these projects (administrators)."
    )


@strawberry.input(description="Changes to a staff record.")
class StaffUpdateInput(StaffFieldsInput):
    id: strawberry.ID = strawberry.field(description="The staff member.")


@strawberry.type(description="The staff record, or userErrors.")
class StaffPayload(Payload):
    staff: Staff | None = strawberry.field(default=None, description="The record after the change.")
    email_confirmation_pending: bool = strawberry.field(
        default=False,
        description="True when one's own email is to change: a link to confirm it is "
        "emailed to the new address (at most one per cooldown) and email stays as it was "
        "until the link is followed (staffEmailConfirm). The same whether or not the "
        "address is in use.",
    )


@strawberry.input(description="The token from the link emailed to the new address.")
class StaffEmailConfirmInput:
    token: str = strawberry.field(description="The token.")


@strawberry.type(description="The confirmed address, or userErrors.")
class StaffEmailConfirmPayload(Payload):
    email: str | None = strawberry.field(
        default=None, description="The record's email, now the new address."
    )


@strawberry.input(description="Share or unshare a restricted record with a member.")
class StaffShareInput:
    staff_id: strawberry.ID = strawberry.field(description="The restricted record.")
    shared_with_id: strawberry.ID = strawberry.field(description="The member who may see it.")


@strawberry.input(description="Grant or revoke a permit for one member.")
class StaffPermitInput:
    staff_id: strawberry.ID = strawberry.field(description="The member.")
    permit: Permit = strawberry.field(description="The permit (VIEW_PERSONAL_DATA).")


@strawberry.input(description="One custom field value; null or blank clears it.")
class CustomFieldValueInput:
    field_id: strawberry.ID = strawberry.field(description="The custom field.")
    value: str | None = strawberry.field(description="The value as text.")


@strawberry.input(description="Set several custom field values at once (all or nothing).")
class StaffCustomFieldsSetInput:
    staff_id: strawberry.ID = strawberry.field(description="The staff member.")
    values: list[CustomFieldValueInput] = strawberry.field(description="Values to set.")


@strawberry.input(description="A new staff status.")
class StaffStatusCreateInput:
    name: str = strawberry.field(description="Name, unique in the account.")


@strawberry.input(description="Rename or archive a staff status.")
class StaffStatusUpdateInput:
    id: strawberry.ID = strawberry.field(description="The status.")
    name: str | None = strawberry.field(default=None, description="New name.")
    archived: bool | None = strawberry.field(default=None, description="Archive or restore.")


@strawberry.type(description="The status, or userErrors.")
class StaffStatusPayload(Payload):
    status: StaffStatus | None = strawberry.field(
        default=None, description="The status after the change."
    )


@strawberry.input(description="The member to act on.")
class StaffIdInput:
    staff_id: strawberry.ID = strawberry.field(description="The member.")


@strawberry.type(description="The member after the change, or userErrors.")
class StaffAdminPayload(Payload):
    staff: Staff | None = strawberry.field(default=None, description="The member.")


@strawberry.type(description="The deleted member's id, or userErrors.")
class StaffDeletePayload(Payload):
    deleted_staff_id: strawberry.ID | None = strawberry.field(
        default=None, description="Id of the record."
    )


@strawberry.input(description="A new role for a member below your own role.")
class StaffRoleChangeInput:
    staff_id: strawberry.ID = strawberry.field(description="The member.")
    role: Role = strawberry.field(
        description="The new role (not above your own nor able to do more than you, or your "
        "API key's scopes, may; never OWNER)."
    )


def _staff(row, actor) -> StaffPayload:
    return StaffPayload(staff=Staff.build(row, actor))


def _member(row, actor) -> StaffAdminPayload:
    return StaffAdminPayload(staff=Staff.build(row, actor))


def _status(row, actor) -> StaffStatusPayload:
    return StaffStatusPayload(status=StaffStatus(_row=row))


@strawberry.type
class StaffMembershipMutations:
    """Disable, enable, delete, and role changes (``app.staff.membership``)."""

    @mutation(
        description="Disable a member: their access to this account stops at once; "
        "data is kept; the seat is freed."
    )
    async def staff_disable(self, info: Info, input: StaffIdInput) -> StaffAdminPayload:
        staff_id = decode_id(input.staff_id, "Staff")
        return await as_actor(
            info, lambda session, actor: membership.disable(session, actor, staff_id), _member
        )

    @mutation(
        description="Enable a disabled member (needs a free seat). It gives their role and "
        "grants back: only someone who may do all they may (FORBIDDEN otherwise: no API "
        "key brings back an administrator).",
        while_impersonating=False,
    )
    async def staff_enable(self, info: Info, input: StaffIdInput) -> StaffAdminPayload:
        staff_id = decode_id(input.staff_id, "Staff")
        return await as_actor(
            info, lambda session, actor: membership.enable(session, actor, staff_id), _member
        )

    @mutation(
        description="Delete a record made in error (the audit log keeps it).",
        while_impersonating=False,
    )
    async def staff_delete(self, info: Info, input: StaffIdInput) -> StaffDeletePayload:
        staff_id = decode_id(input.staff_id, "Staff")
        return await as_actor(
            info,
            lambda session, actor: membership.delete(session, actor, staff_id),
            lambda _, actor: StaffDeletePayload(deleted_staff_id=input.staff_id),
        )

    @mutation(
        description="Change a member's role (downwards of your own).", while_impersonating=False
    )
    async def staff_role_change(self, info: Info, input: StaffRoleChangeInput) -> StaffAdminPayload:
        staff_id = decode_id(input.staff_id, "Staff")
        return await as_actor(
            info,
            lambda session, actor: membership.change_role(session, actor, staff_id, input.role),
            _member,
        )


@strawberry.type
class StaffMutations:
    @mutation(description="Add a staff record without a login (needs ADD_STAFF).")
    async def staff_create(self, info: Info, input: StaffCreateInput) -> StaffPayload:
        services = info.context.services
        data = staff_changes(input)
        data.pop("invite", None)
        options = data.pop("invitation", None)
        project_ids = [decode_id(p, "Project") for p in data.pop("project_ids", None) or []]
        if options is None and input.invite:
            options = StaffInviteOptionsInput()
        invite = (
            InvitationRequest(
                email=None,
                message=options.message,
                subject=options.subject,
                bcc_sender=options.bcc_sender,
                expires_in_days=options.expires_in_days,
                redirect_url=options.redirect_url,
                options_at=("invitation",),
            )
            if options is not None
            else None
        )
        return await as_actor(
            info,
            lambda session, actor: add_staff.add_staff(
                session,
                actor,
                services.settings,
                data,
                project_ids=project_ids,
                invite=invite,
                send_invitation=input.invite,
            ),
            lambda row, actor: _staff(row, add_staff.as_creator(actor, row)),
            before=(
                (lambda session, actor: invitations.count_sent(session, services.limiter, actor))
                if input.invite
                else None
            ),
        )

    @mutation(
        description="Change a staff record; fields one may not write are "
        "FORBIDDEN userErrors and nothing is changed."
    )
    async def staff_update(self, info: Info, input: StaffUpdateInput) -> StaffPayload:
        settings = info.context.settings
        changes = staff_changes(input)
        staff_id = decode_id(changes.pop("id"), "Staff")
        return await as_actor(
            info,
            lambda session, actor: staff_service.update_staff(
                session, actor, settings, staff_id, changes
            ),
            lambda result, actor: StaffPayload(
                staff=Staff.build(result.staff, actor),
                email_confirmation_pending=result.email_confirmation_pending,
            ),
        )

    @mutation(
        description="Confirm a new email of one's own record with the token emailed to that "
        "address (single use); TAKEN if another record of the account has it by now.",
    )
    async def staff_email_confirm(
        self, info: Info, input: StaffEmailConfirmInput
    ) -> StaffEmailConfirmPayload:
        tokens = info.context.token_gate()
        return await public(
            info,
            lambda session: email_change.confirm_change(session, tokens, input.token),
            lambda row: StaffEmailConfirmPayload(email=row.email),
        )

    async def _share(self, info: Info, input: StaffShareInput, share: bool) -> StaffPayload:
        staff_id = decode_id(input.staff_id, "Staff")
        with_id = decode_id(input.shared_with_id, "Staff")
        return await as_actor(
            info,
            lambda session, actor: staff_service.share_staff(
                session, actor, staff_id, with_id, share=share
            ),
            _staff,
        )

    @mutation(description="Let a member see a restricted record (administrators).")
    async def staff_share(self, info: Info, input: StaffShareInput) -> StaffPayload:
        return await StaffMutations._share(self, info, input, True)

    @mutation(description="Stop sharing a restricted record (administrators).")
    async def staff_unshare(self, info: Info, input: StaffShareInput) -> StaffPayload:
        return await StaffMutations._share(self, info, input, False)

    async def _permit(self, info: Info, input: StaffPermitInput, grant: bool) -> StaffPayload:
        staff_id = decode_id(input.staff_id, "Staff")
        return await as_actor(
            info,
            lambda session, actor: membership.set_permit(
                session, actor, staff_id, input.permit, grant=grant
            ),
            _staff,
        )

    @mutation(description="Grant a permit (VIEW_PERSONAL_DATA) to a member.")
    async def staff_permit_grant(self, info: Info, input: StaffPermitInput) -> StaffPayload:
        return await StaffMutations._permit(self, info, input, True)

    @mutation(description="Revoke a granted permit.")
    async def staff_permit_revoke(self, info: Info, input: StaffPermitInput) -> StaffPayload:
        return await StaffMutations._permit(self, info, input, False)

    @mutation(description="Set custom field values of a staff member, all or nothing.")
    async def staff_custom_fields_set(
        self, info: Info, input: StaffCustomFieldsSetInput
    ) -> StaffPayload:
        staff_id = decode_id(input.staff_id, "Staff")
        values = [(decode_id(v.field_id, "CustomField"), v.value) for v in input.values]
        return await as_actor(
            info,
            lambda session, actor: custom_fields.set_values(session, actor, staff_id, values),
            _staff,
        )

    @mutation(description="Add a staff status to the picklist (administrators).")
    async def staff_status_create(
        self, info: Info, input: StaffStatusCreateInput
    ) -> StaffStatusPayload:
        return await as_actor(
            info,
            lambda session, actor: staff_service.create_status(session, actor, input.name),
            _status,
        )

    @mutation(description="Rename, archive or restore a staff status (administrators).")
    async def staff_status_update(
        self, info: Info, input: StaffStatusUpdateInput
    ) -> StaffStatusPayload:
        status_id = decode_id(input.id, "StaffStatus")
        return await as_actor(
            info,
            lambda session, actor: staff_service.update_status(
                session, actor, status_id, name=input.name, archived=input.archived
            ),
            _status,
        )


# --- staffImport: the staff CSV export's columns, back in (app.staff.bulk_import) ---

MAX_REPORTED = 100  # rows and row errors in the answer (counts cover the whole file)
MAX_CHANGED = 100  # columns named as changed in one row


strawberry.enum(RowAction, name="StaffImportAction", description="What a row of the file does.")


@strawberry.input(description="A staff CSV (the export's columns) to check or import.")
class StaffImportInput:
    csv: str | None = strawberry.field(
        default=None,
        description=f"The file's text: a header row, then up to {bulk_import.MAX_ROWS} rows "
        "(or send it as file).",
    )
    file: Upload | None = strawberry.field(
        default=None,
        description="The file itself, uploaded with a multipart request (the GraphQL "
        "multipart request specification; the request must carry Authorization, "
        "X-Auth-Token or GraphQL-Preflight); instead of csv.",
    )
    apply: bool = strawberry.field(
        default=False,
        description="Write the rows (all or nothing); false (the default) only reports.",
    )
    invite: bool = strawberry.field(
        default=False, description="Invite the people of created rows that have an email."
    )


@strawberry.type(description="A problem with one cell or row of the file.")
class StaffImportError:
    row: int = strawberry.field(description="The row's number in the file (the header is 1).")
    column: str | None = strawberry.field(description="The column's header, if one.")
    code: UserErrorCode = strawberry.field(description="A stable, machine-readable code.")
    message: str = strawberry.field(description="A human-readable explanation.")


@strawberry.type(description="What one row of the file does (or would do).")
class StaffImportRow:
    row: int = strawberry.field(description="The row's number in the file (the header is 1).")
    action: RowAction = strawberry.field(description="Create, update, nothing, or error.")
    staff_id: strawberry.ID | None = strawberry.field(
        description="The record updated, or created once applied."
    )
    changed_columns: list[str] = strawberry.field(
        description=f"Headers whose values change (at most {MAX_CHANGED})."
    )


@strawberry.type(description="The import's report; userErrors are problems of the whole file.")
class StaffImportPayload(Payload):
    applied: bool = strawberry.field(
        default=False, description="Whether the rows were written (never with a row in error)."
    )
    created: int = strawberry.field(default=0, description="Rows that create a record.")
    updated: int = strawberry.field(default=0, description="Rows that change a record.")
    unchanged: int = strawberry.field(default=0, description="Rows that change nothing.")
    failed: int = strawberry.field(default=0, description="Rows with errors.")
    invited: int = strawberry.field(default=0, description="Invitations sent (or to send).")
    errors: list[StaffImportError] = strawberry.field(
        default_factory=list, description=f"Row errors, the first {MAX_REPORTED}."
    )
    rows: list[StaffImportRow] = strawberry.field(
        default_factory=list,
        description=f"The first {MAX_REPORTED} rows that create, update or fail.",
    )


def _payload(report: ImportReport, actor) -> StaffImportPayload:
    rows = [r for r in report.rows if r.action is not RowAction.UNCHANGED][:MAX_REPORTED]
    return StaffImportPayload(
        applied=report.applied,
        created=report.count(RowAction.CREATE),
        updated=report.count(RowAction.UPDATE),
        unchanged=report.count(RowAction.UNCHANGED),
        failed=report.count(RowAction.ERROR),
        invited=report.invited,
        errors=[
            StaffImportError(row=e.row, column=e.column, code=e.code, message=e.message)
            for e in report.errors[:MAX_REPORTED]
        ],
        rows=[
            StaffImportRow(
                row=r.row,
                action=r.action,
                staff_id=strawberry.ID(encode_id("Staff", r.staff_id)) if r.staff_id else None,
                changed_columns=r.changed[:MAX_CHANGED],
            )
            for r in rows
        ],
    )


UPLOAD_CHUNK = 64 * 1024


async def _chunks(upload) -> AsyncIterator[bytes]:
    """An uploaded file's bytes, a chunk at a time (starlette's UploadFile)."""
    while chunk := await upload.read(UPLOAD_CHUNK):
        yield chunk


@strawberry.type
class StaffImportMutations:
    @mutation(
        description="Check (default) or import a staff CSV in the export's columns: rows "
        "update the record with their externalId or email, or create one; all or nothing."
    )
    async def staff_import(self, info: Info, input: StaffImportInput) -> StaffImportPayload:
        settings = info.context.settings
        limiter = info.context.services.limiter
        given = [name for name in ("csv", "file") if getattr(input, name) is not None]
        source: str | AsyncIterator[bytes] | None = None  # None: ``run`` refuses the input
        if given == ["csv"]:
            source = input.csv
        elif given == ["file"] and isinstance(input.file, UploadFile):
            source = _chunks(input.file)

        async def count(session, actor):
            nonlocal source
            if source is not None:  # its rows, before the import's savepoint
                source = await bulk_import.count_rows(
                    session, limiter, actor, settings, source, invite=input.invite
                )

        async def run(session, actor):
            if len(given) != 1:
                if given:
                    raise DomainError("Send the file as csv or as file, not both.", field=["file"])
                raise DomainError(
                    "The file is required (csv or file).", field=["csv"], code=ErrorCode.REQUIRED
                )
            if input.file is not None and not isinstance(input.file, UploadFile):
                raise DomainError(
                    "Upload the file as a part of a multipart request (or send csv).",
                    field=["file"],
                )
            assert source is not None
            return await bulk_import.import_staff(
                session,
                actor,
                settings,
                source,
                apply=input.apply,
                invite=input.invite,
                limiter=limiter,
            )

        return await as_actor(info, run, _payload, before=count)
