"""Small input checks shared by the domains. Each raises a DomainError naming its field."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Literal, overload
from zoneinfo import available_timezones

from app.errors import DomainError, ErrorCode

_EMAIL = re.compile(
    r"^[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
# Characters no stored text holds, whatever the field: NUL (PostgreSQL refuses it) and
# lone surrogates (which cannot be encoded at all). Every adapter refuses them on input.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_path(value: object) -> list | None:
    """The path of the first string (or key) holding NUL or a lone surrogate, else None.

    Iterative: the parser's depth limit is above Python's recursion limit. Only containers
    wait on the stack, each with a link to its parent's place: a path is built only for
    the string found (a list of a million numbers costs no million paths)."""
    Place = tuple | None  # (the parent's place, the key or index) or None for the root
    stack: list[tuple[object, Place]] = [(value, None)]

    def unwound(place: Place) -> list:
        path: list = []
        while place is not None:
            place, key = place
            path.append(key)
        return path[::-1]

    while stack:
        item, place = stack.pop()
        if isinstance(item, str):
            if UNSTORABLE.search(item):
                return unwound(place)
            continue
        if isinstance(item, dict):
            pairs: Iterable = item.items()
        elif isinstance(item, list):
            pairs = enumerate(item)
        else:
            continue
        for key, sub in pairs:
            if isinstance(key, str) and UNSTORABLE.search(key):
                return unwound((place, key))
            if isinstance(sub, str):
                if UNSTORABLE.search(sub):
                    return unwound((place, key))
            elif isinstance(sub, dict | list):
                stack.append((sub, (place, key)))
    return None



# Control characters but tab and line breaks, and lone surrogates (not encodable as UTF-8).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


_INTEGER = re.compile(r"-?[0-9]+")
# What ``integer_of`` gives a number of more than 18 digits: past every integer column
BEYOND_ANY_COLUMN = 10**19


def integer_of(text: str) -> int | None:
    """The integer ``text`` writes in ASCII digits, with an optional "-" (whitespace around
    it ignored), or None. Python's int() also reads digits of other scripts ("٣") and
    "1_000", and raises on "²" (which str.isdigit() passes) and on 4,300 digits; a number
    of more than 18 digits is given as ±``BEYOND_ANY_COLUMN``, without reading it."""
    digits = text.strip()
    if not _INTEGER.fullmatch(digits):
        return None
    if len(digits.lstrip("-").lstrip("0")) > 18:
        return -BEYOND_ANY_COLUMN if digits.startswith("-") else BEYOND_ANY_COLUMN
    return int(digits)


# Numbers written as text: ASCII digits alone, with a sign, a decimal point and an exponent
# if wanted. Python's float() also reads digits of other scripts ("٣"), "1_000", "nan" and
# "inf".
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def number_of(text: str) -> float | None:
    """The number ``text`` writes (``_NUMBER``; whitespace around it ignored), or None. It
    may be infinite ("1e999"): the caller checks the range it takes."""
    digits = text.strip()
    return float(digits) if _NUMBER.fullmatch(digits) else None


# Dates as text: an ISO date, or an ISO date-time as BigTime and others write dates
# ("2024-01-02T00:00:00", or with a space as spreadsheets write it, optionally with
# seconds' fraction and offset), whose date is
# taken. Nothing else: "2024-01-02garbage" and "20240102" (which date.fromisoformat reads)
# are not dates.
_DATE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)


def date_of(text: str) -> date | None:
    """The date ``text`` writes (``_DATE``; whitespace around it ignored), or None: a day
    or a time of day that does not exist is none."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        return None
    try:
        if len(match.group(0)) > 10:
            datetime.fromisoformat(match.group(0))  # a real time of day
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


# Where an input value sits: a field's domain name, or a path of them (a nested input's
# field, a list's index), e.g. ``["address", "zip"]`` or ``["options", "1"]``. Never dotted:
# the GraphQL adapter names each segment in camelCase; REST and SCIM join them as they need.
FieldPath = str | Sequence[str]


def path_of(field: FieldPath) -> list[str]:
    return [field] if isinstance(field, str) else [str(part) for part in field]


def label_of(field: FieldPath) -> str:
    """A human label for a path whose caller gave none: its last name, in words
    (``first_name`` -> "First name"), never the domain's identifier."""
    names = [part for part in path_of(field) if not part.isdigit()]
    words = (names[-1] if names else "value").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def has_bad_characters(text: str) -> bool:
    """True when ``text`` holds a character no text field accepts (line breaks are fine)."""
    return _CONTROL.search(text) is not None


def normalize_email(value: str) -> str:
    """Trimmed, NFKC and casefolded: ``Ann@Example.com`` and `` ann@example.com`` are one."""
    return unicodedata.normalize("NFKC", value).strip().casefold()


@overload
def clean_email(value: str | None, field: FieldPath = ..., *, required: Literal[True]) -> str: ...
@overload
def clean_email(
    value: str | None, field: FieldPath = ..., *, required: bool = ...
) -> str | None: ...
def clean_email(
    value: str | None, field: FieldPath = "email", *, required: bool = False
) -> str | None:
    path = path_of(field)
    if value is None or not value.strip():
        if required:
            raise DomainError("Email is required.", field=path, code=ErrorCode.REQUIRED)
        return None
    email = normalize_email(value)
    if len(email) > 254 or not _EMAIL.match(email):
        raise DomainError("Enter a valid email address.", field=path)
    return email


@overload
def clean_text(
    value: str | None,
    field: FieldPath,
    *,
    max_length: int,
    required: Literal[True],
    label: str | None = ...,
    multiline: bool = ...,
    keyed: bool = ...,
) -> str: ...
@overload
def clean_text(
    value: str | None,
    field: FieldPath,
    *,
    max_length: int,
    required: bool = ...,
    label: str | None = ...,
    multiline: bool = ...,
    keyed: bool = ...,
) -> str | None: ...
def clean_text(
    value: str | None,
    field: FieldPath,
    *,
    max_length: int,
    required: bool = False,
    label: str | None = None,
    multiline: bool = False,
    keyed: bool = False,
) -> str | None:
    """Trim; empty becomes None (or REQUIRED); refuse control characters and long values.
    Messages name the value by ``label``, else by ``label_of(field)``. ``keyed``: a name
    whose ``name_key`` is stored beside it in a column as long, so the key must fit too
    (normalising can lengthen a name: NFKC spells one character as up to 18)."""
    path = path_of(field)
    label = label or label_of(path)
    if value is None or not value.strip():
        if required:
            raise DomainError(f"{label} is required.", field=path, code=ErrorCode.REQUIRED)
        return None
    text = value.strip()
    if len(text) > max_length:
        raise DomainError(
            f"{label} must be at most {max_length} characters.",
            field=path,
            code=ErrorCode.TOO_LONG,
        )
    if keyed and len(name_key(text)) > max_length:
        raise DomainError(
            f"{label} must be at most {max_length} characters once normalised.",
            field=path,
            code=ErrorCode.TOO_LONG,
        )
    check = text.replace("\n", "").replace("\r", "").replace("\t", "") if multiline else text
    if _CONTROL.search(check) or (not multiline and ("\n" in text or "\r" in text)):
        raise DomainError(f"{label} contains characters that are not allowed.", field=path)
    return text


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    """The IANA names a time zone may be set to (regions and UTC, not legacy aliases)."""
    return frozenset(tz for tz in available_timezones() if "/" in tz or tz == "UTC")


def clean_time_zone(
    value: str | None, field: FieldPath, *, label: str | None = None
) -> str | None:
    """An IANA time zone name (trimmed); blank is None."""
    tz = clean_text(value, field, max_length=64, label=label)
    if tz is not None and tz not in time_zones():
        raise DomainError("Unknown IANA time zone.", field=path_of(field))
    return tz


def name_key(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().casefold()


SORT_KEY_LENGTH = 100  # staff.last_name_key's length


def sort_key(last_name: str) -> str:
    """A last name's sort key (``staff.last_name_key``): its ``name_key``, cut to the
    column's length. It only orders records, so a cut key orders them the same as far as
    it goes; names that must be unique keep their whole key (``clean_text(keyed=True)``)."""
    return name_key(last_name)[:SORT_KEY_LENGTH]


def full_name(first: str | None, last: str | None) -> str:
    """First and last name as shown, one space between them and none around (a record
    with a first name only shows just that); empty for a record without names (never made
    up)."""
    first = first.strip() if first else ""
    last = last.strip() if last else ""
    return f"{first} {last}" if first and last else first or last
