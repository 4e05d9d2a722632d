import logging

import pytest

from app.access import Role
from app.staff import service as staff_service
from tests.factories import error_codes, make_member, make_tenant

CREATE = """mutation($input: StaffCreateInput!) {
  staffCreate(input: $input) { staff { id } userErrors { field code message } }
}"""
COUNT = "{ staff(first: 0, filter: {includeInactive: true}) { totalCount } }"


async def test_unexpected_error_is_masked_with_request_id_and_logged(
    api, services, monkeypatch, caplog
):
    tenant = await make_tenant(services)
    real_create = staff_service.create_staff

    async def create_then_explode(*args, **kwargs):
        await real_create(*args, **kwargs)
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(staff_service, "create_staff", create_then_explode)
    caplog.set_level(logging.ERROR, logger="roster.graphql")
    response = await api.raw(
        CREATE, {"input": {"firstName": "A", "lastName": "B"}}, **tenant.owner.auth
    )
    body = response.json()
    assert "hunter2" not in response.text and "Traceback" not in response.text
    [error] = body["errors"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    assert response.headers["x-request-id"] in caplog.text
    assert "hunter2" in caplog.text  # the full error goes to the log
    # the half-done mutation left nothing behind
    assert (await api.data(COUNT, as_=tenant.owner))["staff"]["totalCount"] == 1


async def test_graphql_validation_errors_are_bad_user_input(api, services):
    tenant = await make_tenant(services)
    body = await api("{ staff(first: 5) { nope } }", as_=tenant.owner)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = await api('{ staff(first: "many") { totalCount } }', as_=tenant.owner)
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_user_errors_name_the_input_field(api, services):
    tenant = await make_tenant(services)
    body = await api.data(
        CREATE, {"input": {"firstName": "A", "lastName": "B", "email": "nope"}}, as_=tenant.owner
    )
    [error] = body["staffCreate"]["userErrors"]
    assert error == {"field": ["input", "email"], "code": "INVALID",
                     "message": "Enter a valid email address."}


async def test_anonymous_requests_are_unauthenticated(api, services):
    body = await api(COUNT)
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None


@pytest.mark.parametrize("role", [Role.VIEWER])
async def test_whole_operation_denial_is_top_level_forbidden(api, services, role):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, role)
    body = await api(CREATE, {"input": {"firstName": "A", "lastName": "B"}}, as_=member)
    assert error_codes(body) == ["FORBIDDEN"]


HIDDEN = '{ staff(first: 0, search: "Hidden") { totalCount } }'
BOTH = """mutation {
  a: staffCreate(input: {firstName: "Hidden", lastName: "Write"}) { staff { id } userErrors { code } }
  b: accountPlanChange(input: {plan: FREE}) { account { plan } userErrors { code } }
}"""


async def test_an_operation_refused_as_a_whole_keeps_none_of_its_fields(api, services):
    """An administrator may add staff but not change the plan: the second root field's
    FORBIDDEN nulls the whole answer, so the first field's record is not kept either (it
    was saved unseen, and a client retrying the document added it twice)."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    for document in (BOTH, BOTH.replace("a: staffCreate", "c: staffCreate", 1)):
        body = await api(document, as_=admin)
        assert body["data"] is None and error_codes(body) == ["FORBIDDEN"]
    assert (await api.data(HIDDEN, as_=admin))["staff"]["totalCount"] == 0
    # the owner may do both: both are kept
    body = await api.data(BOTH, as_=tenant.owner)
    assert body["a"]["userErrors"] == [] and body["b"]["userErrors"] == []
    assert (await api.data(HIDDEN, as_=tenant.owner))["staff"]["totalCount"] == 1
    # a field refused with userErrors does not null the answer: the other is kept
    body = await api.data(BOTH.replace("plan: FREE", "plan: FREE, seatLimit: 5"), as_=tenant.owner)
    assert body["b"]["userErrors"] != [] and body["a"]["userErrors"] == []
    assert (await api.data(HIDDEN, as_=tenant.owner))["staff"]["totalCount"] == 2
