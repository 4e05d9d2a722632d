"""A SCIM client over the test app: an owner's key with the scim scope."""

from __future__ import annotations

from dataclasses import dataclass

from app.access.scopes import Scope
from tests.factories import Tenant, make_api_token, make_tenant

SCIM = "/scim/v2"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@dataclass
class Scim:
    client: object
    tenant: Tenant
    key: str

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.key}", "Content-Type": "application/scim+json"}

    async def get(self, path: str, **params):
        return await self.client.get(f"{SCIM}{path}", params=params, headers=self.headers)

    async def post(self, path: str, body: dict):
        return await self.client.post(f"{SCIM}{path}", json=body, headers=self.headers)

    async def put(self, path: str, body: dict):
        return await self.client.put(f"{SCIM}{path}", json=body, headers=self.headers)

    async def patch(self, path: str, *operations: dict):
        body = {"schemas": [PATCH], "Operations": list(operations)}
        return await self.client.patch(f"{SCIM}{path}", json=body, headers=self.headers)

    async def delete(self, path: str):
        return await self.client.delete(f"{SCIM}{path}", headers=self.headers)


async def scim_for(
    services, client, *, seats: int = 50, tenant: Tenant | None = None, scopes=(Scope.SCIM,)
) -> Scim:
    tenant = tenant or await make_tenant(services, seats=seats)
    key = await make_api_token(services, tenant, tenant.owner, scopes=list(scopes))
    return Scim(client, tenant, key)


# what managing Groups (projects) takes: the scim scope and the admin scope
GROUP_SCOPES = (Scope.SCIM, Scope.ADMIN)
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def user_body(email: str, **extra) -> dict:
    return {
        "schemas": [USER],
        "userName": email,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": email, "type": "work", "primary": True}],
        "active": True,
        **extra,
    }


def scim_error(response, status: int, scim_type: str | None = None) -> dict:
    """The SCIM error a response must be (RFC 7644 3.12): its status, schema and type."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    return body
