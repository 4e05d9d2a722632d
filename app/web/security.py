"""CSRF (double-submit cookie + Origin check) and security headers for the HTML pages."""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

CSRF_COOKIE = "roster_csrf"
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The pages carry secret tokens in their URLs: never send them onwards.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def csrf_token(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


def set_csrf_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/"
    )


def csrf_ok(request: Request, form_token: str | None, public_origin: str) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not form_token or not hmac.compare_digest(cookie, form_token):
        return False
    origin = request.headers.get("origin")
    # Under "Referrer-Policy: no-referrer" browsers send "Origin: null" with form posts from
    # our own pages; the matching double-submit token (SameSite=strict cookie) still holds.
    return origin in (None, "null") or origin.rstrip("/").lower() == public_origin
