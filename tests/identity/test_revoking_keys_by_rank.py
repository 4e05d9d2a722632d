"""Another member's API key is revoked as members are managed: by someone above the
creator's role. An administrator stops no other administrator's integration, nor the
owner's (their provisioning key, say); the creator and anyone above them may."""

from __future__ import annotations

import pytest

from app.access import Role
from tests.factories import make_member, make_tenant
from tests.identity.test_api_key_scopes import REVOKE, create_key

# (revoker, creator of the key) -> whether the key is revoked
CASES = [
    ("ADMINISTRATOR", "OWNER", False),
    ("ADMINISTRATOR", "ADMINISTRATOR", False),
    ("ADMINISTRATOR", "EDITOR", True),
    ("ADMINISTRATOR", "SELF", True),
    ("OWNER", "ADMINISTRATOR", True),
    ("OWNER", "EDITOR", True),
]


@pytest.mark.parametrize(("revoker", "creator", "revoked"), CASES)
async def test_a_key_is_revoked_by_its_creator_or_someone_above_them(
    api, services, revoker, creator, revoked
):
    tenant = await make_tenant(services)
    actor = (
        tenant.owner if revoker == "OWNER" else await make_member(services, tenant, Role(revoker))
    )
    maker = {"OWNER": tenant.owner, "SELF": actor}.get(creator) or await make_member(
        services, tenant, Role(creator)
    )
    key = await create_key(api, maker, "STAFF_READ")
    key_id = key["apiToken"]["id"]

    data = await api.data(REVOKE, {"id": key_id}, as_=actor)
    payload = data["apiTokenRevoke"]
    if revoked:
        assert payload["userErrors"] == [] and payload["apiToken"]["revokedAt"]
    else:
        assert [e["code"] for e in payload["userErrors"]] == ["FORBIDDEN"]
    still = await api("{ staff(first: 1) { totalCount } }", token=key["token"], realm=tenant.slug)
    assert ("errors" in still) is revoked, still
