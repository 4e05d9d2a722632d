"""Links in emails: always built from ROSTER_PUBLIC_URL, or from an allow-listed redirectUrl."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from app.errors import DomainError
from app.validation import FieldPath, path_of


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_redirect(
    settings, redirect_url: str | None, field: FieldPath = "redirect_url"
) -> str | None:
    """A frontend may ask for links to point at itself, if its origin is allow-listed."""
    if redirect_url is None or not redirect_url.strip():
        return None
    url = redirect_url.strip()
    if not redirect_allowed(settings, url):
        raise DomainError("This redirect URL is not allowed.", field=path_of(field))
    return url


def redirect_allowed(settings, url: str) -> bool:
    parts = urlsplit(url)
    allowed = {o.rstrip("/").lower() for o in settings.redirect_origins}
    return not (
        len(url) > 500
        or parts.scheme not in ("https", "http")
        or parts.fragment
        or origin_of(url) not in allowed
    )


class SecretLink(str):
    """A link carrying a single-use token (it signs someone in, sets a password or accepts an
    invitation). The outbox refuses to copy a message holding one to anyone but its owner."""

    __slots__ = ()


def build_link(settings, path: str, token: str, redirect_url: str | None = None) -> SecretLink:
    """The link carrying ``token``: to the frontend that asked for it (``redirect_url``)
    only if its origin is allow-listed now (a redirect stored long ago, or restored from a
    backup, gets no token to an origin no longer or never allowed), else Roster's page."""
    if redirect_url and redirect_allowed(settings, redirect_url):
        sep = "&" if "?" in redirect_url else "?"
        return SecretLink(f"{redirect_url}{sep}{urlencode({'token': token})}")
    return SecretLink(f"{settings.public_url}{path}?{urlencode({'token': token})}")


def forgot_password_link(settings) -> str:
    """Where someone who does not know their password asks for a reset link."""
    return f"{settings.public_url}/password/forgot"


def join_link(settings, token: str) -> str:
    return f"{settings.public_url}/join/{token}"
