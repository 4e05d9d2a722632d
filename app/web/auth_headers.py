"""Who a request says it is: the token and realm headers, read the same way by the GraphQL
endpoint and the export routes."""

from __future__ import annotations

from starlette.requests import Request


def credentials(request: Request) -> tuple[str | None, str | None]:
    """The bearer token (Authorization: Bearer, or BigTime's X-Auth-Token) and realm."""
    token = request.headers.get("x-auth-token")
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            token = value.strip()
    return token, request.headers.get("x-auth-realm") or None
