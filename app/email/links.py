"""Links in emails: always built from ROSTER_PUBLIC_URL, or from an allow-listed redirectUrl."""

from __future__ import annotations

import unicodedata
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from app.errors import DomainError
from app.validation import FieldPath, path_of

MAX_REDIRECT = 500
# Kept as written when a redirect URL is written out again: RFC 3986's delimiters and "%"
# (an escape already made). Anything else outside letters, digits and "-._~" (non-ASCII
# text, quotes, angle brackets, backslashes) is percent-encoded.
_KEPT = "!$&'()*+,/:;=?@%"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _unprintable(url: str) -> bool:
    """Whitespace, or a control, format (direction overrides, zero-width) or unassigned
    character: ``urlsplit`` drops tabs and line breaks before parsing, so a URL that
    passes its checks could still carry lines of text into an email."""
    return any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in url)


def redirect_target(settings, url: str) -> str:
    """``url`` as a link to a frontend is written (re-serialised from its parts, so what is
    emailed is what was checked), or ValueError saying why it may not be one: it must be
    http(s) at an allow-listed origin, without user info, a fragment (the token would
    land in it), a ``token`` parameter of its own (the link's token is added to it),
    whitespace or control characters, and at most 500 characters long."""
    if len(url) > MAX_REDIRECT:
        raise ValueError(f"A redirect URL has at most {MAX_REDIRECT} characters.")
    if _unprintable(url):
        raise ValueError("A redirect URL may not contain spaces or control characters.")
    parts = urlsplit(url)
    if "#" in url:
        raise ValueError("A redirect URL may not have a fragment (#).")
    if "@" in parts.netloc:
        raise ValueError("A redirect URL may not hold a user name or password.")
    if any(name == "token" for name, _ in parse_qsl(parts.query, keep_blank_values=True)):
        raise ValueError("A redirect URL may not have a token parameter: the link adds its own.")
    allowed = {o.rstrip("/").lower() for o in settings.redirect_origins}
    if parts.scheme.lower() not in ("https", "http") or origin_of(url) not in allowed:
        raise ValueError("This redirect URL is not allowed.")
    written = urlunsplit(
        (
            parts.scheme.lower(),
            parts.netloc.lower(),
            quote(parts.path, safe=_KEPT),
            quote(parts.query, safe=_KEPT),
            "",
        )
    )
    if len(written) > MAX_REDIRECT:
        raise ValueError(f"A redirect URL has at most {MAX_REDIRECT} characters.")
    return written


def check_redirect(
    settings, redirect_url: str | None, field: FieldPath = "redirect_url"
) -> str | None:
    """A frontend may ask for links to point at itself, if its origin is allow-listed: the
    URL to store and send (``redirect_target``), None for none, or a DomainError."""
    if redirect_url is None or not redirect_url.strip():
        return None
    try:
        return redirect_target(settings, redirect_url.strip())
    except ValueError as exc:
        raise DomainError(str(exc), field=path_of(field)) from None


class SecretLink(str):
    """A link carrying a single-use token (it signs someone in, sets a password or accepts an
    invitation). The outbox refuses to copy a message holding one to anyone but its owner."""

    __slots__ = ()


def build_link(settings, path: str, token: str, redirect_url: str | None = None) -> SecretLink:
    """The link carrying ``token``: to the frontend that asked for it (``redirect_url``)
    only if it is a redirect allowed now (``redirect_target``: a redirect stored long ago,
    or restored from a backup, gets no token to an origin no longer or never allowed, nor
    one written before the rules it is checked by), else Roster's page."""
    query = urlencode({"token": token})
    if redirect_url:
        try:
            target = redirect_target(settings, redirect_url)
        except ValueError:
            pass
        else:
            return SecretLink(f"{target}{'&' if urlsplit(target).query else '?'}{query}")
    return SecretLink(f"{settings.public_url}{path}?{query}")


def forgot_password_link(settings) -> str:
    """Where someone who does not know their password asks for a reset link."""
    return f"{settings.public_url}/password/forgot"


def join_link(settings, token: str) -> str:
    return f"{settings.public_url}/join/{token}"
