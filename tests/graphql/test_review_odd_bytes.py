"""Odd bytes are client errors, the same on SQLite and PostgreSQL: an unreadable body
(not UTF-8, not JSON, nested too deep) gets 400 with a GraphQL-style JSON error; a string
holding NUL or a lone surrogate, anywhere in the request, gets BAD_USER_INPUT naming it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.custom_fields.models import CustomField, CustomFieldType
from app.custom_fields.service import normalise
from app.errors import DomainError
from tests.factories import error_codes, make_custom_field, make_staff, make_tenant

SET = """mutation($id: ID!, $field: ID!, $value: String) {
  staffCustomFieldsSet(input: {staffId: $id, values: [{fieldId: $field, value: $value}]}) {
    staff { customFields { value } } userErrors { field code }
  }
}"""
BAD_CHARS = ("\x00", "\ud800", "\udfff")
TYPED = {"BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "RATE_LIMITED"}


async def post(client, body: bytes, **headers):
    return await client.post(
        "/graphql", content=body, headers={"content-type": "application/json", **headers}
    )


def graphql_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    return body["errors"][0]["message"]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"query": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"query": "{ __typename }", "variables": {"a": "\xff\xfe"}}',
        b"\xc3\x28",
        b'{"query": "{ __typename }"',
    ],
    ids=["deep", "deep-inside", "bad-utf8", "bad-utf8-start", "truncated"],
)
async def test_an_unreadable_body_is_a_400_with_a_json_error(client, body):
    message = graphql_error(await post(client, body), 400)
    assert "request body" in message


async def test_other_request_errors_are_json_too(client):
    response = await client.post("/graphql", content=b"x", headers={"content-type": "text/plain"})
    assert "content type" in graphql_error(response, 415)  # Unsupported Media Type


@pytest.mark.parametrize("bad", BAD_CHARS)
async def test_bad_characters_in_a_variable_name_the_variable(api, services, bad):
    owner = (await make_tenant(services)).owner
    body = json.dumps(
        {"query": "query($s: String) { staff(first: 1, search: $s) { totalCount } }",
         "variables": {"s": f"a{bad}b"}}
    ).encode()  # ASCII, with \\u escapes: the JSON itself is well formed
    response = await post(
        api.client, body, Authorization=f"Bearer {owner.token}", **{"X-Auth-Realm": owner.realm}
    )
    message = graphql_error(response, 200)
    assert '"$s"' in message and "not allowed" in message


@pytest.mark.parametrize("bad", BAD_CHARS)
async def test_bad_characters_in_the_query_text_are_refused(api, bad):
    body = json.dumps({"query": '{ __typename } # ' + bad}).encode()
    assert "not allowed" in graphql_error(await post(api.client, body), 200)


@pytest.mark.parametrize("literal", ["\\u0000", "a\\u{0}b", "\\ud800", "\\udc00x"])
async def test_bad_escapes_in_a_string_literal_are_refused(api, motto, literal):
    owner, staff_id, field_id = motto
    query = (
        f'mutation {{ staffCustomFieldsSet(input: {{staffId: "{staff_id}", values: '
        f'[{{fieldId: "{field_id}", value: "{literal}"}}]}}) {{ userErrors {{ code }} }} }}'
    )
    body = await api(query, as_=owner)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body.get("data") is None


async def custom_field_world(services):
    tenant = await make_tenant(services)
    field = await make_custom_field(services, tenant, "Motto")
    staff = await make_staff(services, tenant)
    from tests.factories import gid

    return tenant.owner, gid("Staff", staff.id), gid("CustomField", field.id)


@pytest.fixture
async def motto(services):
    return await custom_field_world(services)


@settings(max_examples=60)
@given(
    value=st.one_of(
        st.text(st.characters(codec=None, exclude_categories=()), max_size=30),
        st.builds(
            lambda a, bad, b: a + bad + b,
            st.text(max_size=5),
            st.sampled_from([*BAD_CHARS, "\x01", "\x7f", "\u2028"]),
            st.text(max_size=5),
        ),
    )
)
async def test_any_custom_field_value_is_stored_or_refused_clearly(api, motto, value):
    owner, staff_id, field_id = motto
    body = json.dumps(
        {"query": SET, "variables": {"id": staff_id, "field": field_id, "value": value}}
    ).encode()
    response = await post(
        api.client, body, Authorization=f"Bearer {owner.token}", **{"X-Auth-Realm": owner.realm}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    codes = error_codes(answer)
    assert set(codes) <= TYPED, answer
    if any(c in value for c in BAD_CHARS):
        assert codes == ["BAD_USER_INPUT"], answer
        assert '"$value"' in answer["errors"][0]["message"]
        return
    assert codes == [], answer
    payload = answer["data"]["staffCustomFieldsSet"]
    if payload["userErrors"]:
        assert [e["code"] for e in payload["userErrors"]] == ["INVALID"], payload
        assert payload["userErrors"][0]["field"] == ["input", "values", "0", "value"]
        assert any(c in value for c in "\x01\x7f") or any(
            ord(c) < 32 and c not in "\t\n\r" for c in value
        ), value
        return
    stored = payload["staff"]["customFields"]
    assert stored == ([{"value": value.strip()}] if value.strip() else []), payload


@pytest.mark.parametrize("bad", [*BAD_CHARS, "\x01"])
def test_the_domain_refuses_bad_characters_in_a_text_value(bad):
    field = CustomField(name="Motto", type=CustomFieldType.TEXT, options=[])
    with pytest.raises(DomainError) as caught:
        normalise(field, f"a{bad}b", ["values", "0", "value"])
    assert caught.value.field == ["values", "0", "value"]
