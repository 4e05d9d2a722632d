"""The cursors of the id-keyed connections (invitations, the audit log, webhook endpoints
and deliveries): a cursor that is not one of the connection's ids is BAD_USER_INPUT, as the
directory's are, not an empty last page a client would take for the end of the list."""

from __future__ import annotations

import pytest

from app.graphql.ids import encode_id
from tests.factories import error_codes, make_tenant

CONNECTIONS = {
    "invitations": ("{ invitations(first: 2, after: $after) { edges { cursor } } }", "Invitation"),
    "auditLog": ("{ auditLog(first: 2, after: $after) { edges { cursor } } }", "AuditEntry"),
    "webhookEndpoints": (
        "{ webhookEndpoints(first: 2, after: $after) { edges { cursor } } }",
        "WebhookEndpoint",
    ),
    "webhookDeliveries": (
        "{ webhookDeliveries(first: 2, after: $after) { edges { cursor } } }",
        "WebhookDelivery",
    ),
}


@pytest.mark.parametrize("field", sorted(CONNECTIONS))
async def test_a_cursor_that_is_no_id_of_the_connection_is_bad_user_input(api, services, field):
    tenant = await make_tenant(services)
    selection, type_name = CONNECTIONS[field]
    document = "query($after: String) " + selection
    for cursor in ("garbage", encode_id("Staff", 1), "U3RhZmY6", encode_id(type_name, 0)[:-2]):
        body = await api(document, {"after": cursor}, as_=tenant.owner)
        assert error_codes(body) == ["BAD_USER_INPUT"], (cursor, body)
        assert body["errors"][0]["message"] == "The cursor is not valid for this query."
    # the connection's own ids are cursors, whether or not a row has them
    for after in (encode_id(type_name, 1), encode_id(type_name, 10**6), None, ""):
        body = await api(document, {"after": after}, as_=tenant.owner)
        assert error_codes(body) == [], (after, body)
