"""Declarative base with a constraint naming convention (stable names for migrations)."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, TypeDecorator, inspect
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


TIMESTAMPTZ_OID = 1184

# Primary keys are INTEGER columns: a larger number is no row, and PostgreSQL refuses it.
MAX_ID = 2**31 - 1


def is_id(value: object) -> bool:
    """Whether ``value`` is a number a primary key can be (a bool is not one)."""
    return type(value) is int and 0 <= value <= MAX_ID


def id_from_digits(text: str) -> int | None:
    """The number an id written in ASCII digits names, or None: not such digits, or past
    the keys' column ("²" is a digit to ``str.isdigit`` and no number to ``int``)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    number = int(text)
    return number if number <= MAX_ID else None


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def result_processor(self, dialect, coltype):
        """No processing where the driver already returns aware datetimes: PostgreSQL's
        ``timestamptz`` columns (type oid 1184). Every page reads a few per row, and the
        call did nothing for them."""
        if dialect.name == "postgresql" and coltype == TIMESTAMPTZ_OID:
            return self.impl_instance.result_processor(dialect, coltype)
        return super().result_processor(dialect, coltype)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Records:
    """All mapped columns of an entity (a class or an alias), selected as plain labelled
    columns and read back as light named tuples that read like the entity
    (``record.first_name``).

    The records carry no ORM state: no identity map, no change tracking, nothing loaded
    lazily. Read-only lists use them where building entities costs more than the rest of
    the request; several entities fit in one row side by side (``take`` cuts its own).
    """

    def __init__(self, entity, name: str, keys: tuple[str, ...] | None = None):
        mapper = inspect(entity).mapper
        keys = keys or tuple(mapper.column_attrs.keys())
        self.columns = [getattr(entity, key).label(f"{name}__{key}") for key in keys]
        # A record type made at run time: the checker cannot see its _make.
        self._make = namedtuple(f"{name.title()}Record", keys)._make  # type: ignore[attr-defined]
        self._width = len(keys)
        primary = [c.key for c in mapper.primary_key if c.key in keys]
        self._primary = keys.index(primary[0]) if primary else 0

    def take(self, row, start: int = 0):
        """The record in ``row`` from column ``start`` on, or None where an outer join
        found nothing (its primary key, or first column, is NULL)."""
        if row[start + self._primary] is None:
            return None
        return self._make(row[start : start + self._width])

    def __len__(self) -> int:
        return self._width
