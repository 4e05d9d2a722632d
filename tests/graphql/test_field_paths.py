"""userErrors.field is the path of the input field the client sent, one segment per name or
list index (never a dotted segment), nested inputs included; messages name fields as the
API or a person would, never by the domain's identifiers."""

import pytest

from tests.factories import gid, make_tenant

LONG_SUBJECT = "x" * 201
EVIL = "https://evil.example/"
MISSING_STAFF = gid("Staff", 999_999)
MISSING_PROJECT = gid("Project", 999_999)

PROJECT = """mutation($input: ProjectCreateInput!) {
  projectCreate(input: $input) { project { id } userErrors { field code } }
}"""


def _mutation(name: str, input_type: str, selection: str = "") -> str:
    return (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) "
        f"{{ {selection} userErrors {{ field code message }} }} }}"
    )


def _staff(email: str | None = None, **more) -> dict:
    person = {"firstName": "Ada", "lastName": "Lovelace", **more}
    return {**person, "email": email} if email else person


# (name, mutation, input type, input (a function of the owner's staff id and a project id),
#  the expected [(field, code, message or None)])
CASES = [
    (
        "address part too long",
        "staffUpdate",
        "StaffUpdateInput",
        lambda me, project: {"id": me, "address": {"zip": "x" * 21}},
        [(["input", "address", "zip"], "TOO_LONG",
          "The address's zip must be at most 20 characters.")],
    ),
    (
        "empty choice option",
        "customFieldCreate",
        "CustomFieldCreateInput",
        lambda me, project: {"name": "Opt1", "type": "CHOICE", "options": ["a", ""]},
        [(["input", "options", "1"], "REQUIRED", "An option is required.")],
    ),
    (
        "too long choice option",
        "customFieldCreate",
        "CustomFieldCreateInput",
        lambda me, project: {"name": "Opt3", "type": "CHOICE", "options": ["a", "b", "x" * 201]},
        [(["input", "options", "2"], "TOO_LONG", None)],
    ),
    (
        "duplicate choice option",
        "customFieldCreate",
        "CustomFieldCreateInput",
        lambda me, project: {"name": "Opt2", "type": "CHOICE", "options": ["a", "a"]},
        [(["input", "options", "1"], "INVALID", None)],
    ),
    (
        "unknown project among projectIds",
        "staffCreate",
        "StaffCreateInput",
        lambda me, project: _staff(projectIds=[project, MISSING_PROJECT]),
        [(["input", "projectIds", "1"], "NOT_FOUND", "Project not found.")],
    ),
    (
        "unknown member among memberIds",
        "projectCreate",
        "ProjectCreateInput",
        lambda me, project: {"name": "Pp", "memberIds": [me, MISSING_STAFF]},
        [(["input", "memberIds", "1"], "NOT_FOUND", None)],
    ),
    (
        "staffCreate invitation subject too long",
        "staffCreate",
        "StaffCreateInput",
        lambda me, project: _staff(
            "fp1@a.example", invite=True, invitation={"subject": LONG_SUBJECT}
        ),
        [(["input", "invitation", "subject"], "TOO_LONG",
          "Subject must be at most 200 characters.")],
    ),
    (
        "staffCreate invitation message too long",
        "staffCreate",
        "StaffCreateInput",
        lambda me, project: _staff(
            "fp1@a.example", invite=True, invitation={"message": "x" * 2001}
        ),
        [(["input", "invitation", "message"], "TOO_LONG",
          "The message must be at most 2000 characters.")],
    ),
    (
        "staffCreate invitation lasting too long",
        "staffCreate",
        "StaffCreateInput",
        lambda me, project: _staff("fp2@a.example", invite=True, invitation={"expiresInDays": 99}),
        [(["input", "invitation", "expiresInDays"], "INVALID", None)],
    ),
    (
        "staffCreate invitation redirect not allowed",
        "staffCreate",
        "StaffCreateInput",
        lambda me, project: _staff("fp2@a.example", invite=True, invitation={"redirectUrl": EVIL}),
        [(["input", "invitation", "redirectUrl"], "INVALID", None)],
    ),
    (
        "staffCreate invitation options checked without invite",
        "staffCreate",
        "StaffCreateInput",
        lambda me, project: _staff(invitation={"expiresInDays": 99, "redirectUrl": EVIL}),
        [
            (["input", "invitation", "redirectUrl"], "INVALID", None),
            (["input", "invitation", "expiresInDays"], "INVALID", None),
        ],
    ),
    (
        "staffRegister welcome subject too long",
        "staffRegister",
        "StaffRegisterInput",
        lambda me, project: _staff("fp3@a.example", welcome={"subject": LONG_SUBJECT}),
        [(["input", "welcome", "subject"], "TOO_LONG",
          "Subject must be at most 200 characters.")],
    ),
    (
        "staffRegister welcome subject and message too long, redirect not allowed",
        "staffRegister",
        "StaffRegisterInput",
        lambda me, project: _staff(
            "fp3@a.example",
            welcome={"subject": LONG_SUBJECT, "message": "x" * 2001},
            redirectUrl=EVIL,
        ),
        [
            (["input", "welcome", "subject"], "TOO_LONG", None),
            (["input", "welcome", "message"], "TOO_LONG", None),
            (["input", "redirectUrl"], "INVALID", None),
        ],
    ),
    (
        "invitationCreate first name too long",
        "invitationCreate",
        "InvitationCreateInput",
        lambda me, project: {"email": "fp4@a.example", "firstName": "x" * 101},
        [(["input", "firstName"], "TOO_LONG", "First name must be at most 100 characters.")],
    ),
    (
        "invitationCreate subject too long",
        "invitationCreate",
        "InvitationCreateInput",
        lambda me, project: {"email": "fp4@a.example", "subject": LONG_SUBJECT},
        [(["input", "subject"], "TOO_LONG", "Subject must be at most 200 characters.")],
    ),
    (
        "invitationCreate redirect not allowed",
        "invitationCreate",
        "InvitationCreateInput",
        lambda me, project: {"email": "fp4@a.example", "redirectUrl": EVIL},
        [(["input", "redirectUrl"], "INVALID", None)],
    ),
]


@pytest.mark.parametrize(
    ("name", "input_type", "make_input", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
async def test_user_error_paths_point_at_the_field_sent(
    api, services, name, input_type, make_input, expected
):
    tenant = await make_tenant(services)
    created = await api.data(PROJECT, {"input": {"name": "Existing"}}, as_=tenant.owner)
    project = created["projectCreate"]["project"]["id"]
    body = await api.data(
        _mutation(name, input_type),
        {"input": make_input(tenant.owner.staff_id, project)},
        as_=tenant.owner,
    )
    errors = body[name]["userErrors"]
    assert sorted((e["field"], e["code"]) for e in errors) == sorted(
        (field, code) for field, code, _ in expected
    )
    messages = {tuple(e["field"]): e["message"] for e in errors}
    for field, _, message in expected:
        if message is not None:
            assert messages[tuple(field)] == message
    for error in errors:
        assert all("." not in segment for segment in error["field"])
        assert "_" not in error["message"]


async def test_valid_invitation_options_without_invite_send_nothing(api, services):
    tenant = await make_tenant(services)
    body = await api.data(
        _mutation("staffCreate", "StaffCreateInput", "staff { id accountStatus }"),
        {"input": _staff("fp5@a.example", invitation={"expiresInDays": 3, "subject": "Hi"})},
        as_=tenant.owner,
    )
    payload = body["staffCreate"]
    assert payload["userErrors"] == []
    assert payload["staff"]["accountStatus"] == "NOT_INVITED"


async def test_refused_invitation_options_without_invite_add_no_one(api, services):
    tenant = await make_tenant(services)
    body = await api.data(
        _mutation("staffCreate", "StaffCreateInput", "staff { id }"),
        {"input": _staff(invitation={"expiresInDays": 0})},
        as_=tenant.owner,
    )
    assert body["staffCreate"]["staff"] is None
    count = await api.data(
        "{ staff(first: 0, filter: {includeInactive: true}) { totalCount } }", as_=tenant.owner
    )
    assert count["staff"]["totalCount"] == 1
