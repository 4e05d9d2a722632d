"""CSRF (double-submit cookie + Origin check) and security headers for the HTML pages."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

CSRF_COOKIE = "roster_csrf"
REFERRER_POLICY = "same-origin"
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The pages carry secret tokens in their URLs: never send them to another origin. (Not
    # "no-referrer": under it browsers send "Origin: null" with our own form posts, which
    # the CSRF check below must refuse, since any sandboxed attacker page sends it too.)
    response.headers["Referrer-Policy"] = REFERRER_POLICY
    response.headers["Cache-Control"] = "no-store"
    return response


def csrf_token(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


def set_csrf_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/"
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def same_origin(request: Request, public_origin: str) -> bool:
    """The post comes from a page of ``public_origin``, by the browser's own word.

    Browsers send ``Origin`` with every form POST; from our pages (Referrer-Policy:
    same-origin) it is our origin. ``Origin: null`` (sandboxed frames, data: URLs, pages
    under "no-referrer") is what an attacker can always make a browser send, so it is
    refused; a browser too old to send Origin is judged by its Referer; a post with
    neither is refused (it is not what a browser sends from our pages).
    """
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.strip().rstrip("/").lower() == public_origin
    referer = request.headers.get("referer")
    return referer is not None and _origin(referer.strip()) == public_origin


def csrf_ok(request: Request, form_token: str | None, public_origin: str) -> bool:
    """A form post is accepted only from our own origin, carrying the token of its cookie
    (double submit: the cookie alone says nothing, an attacker may be able to plant one)."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not form_token:
        return False
    if not hmac.compare_digest(cookie.encode(), form_token.encode()):  # bytes: any text
        return False
    return same_origin(request, public_origin)
