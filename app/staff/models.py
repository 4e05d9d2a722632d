from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    column,
    table,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.access.roles import Permit, Role
from app.db.base import Base, UTCDateTime, utcnow


class StaffKind(enum.StrEnum):
    EMPLOYEE = "EMPLOYEE"
    CONTRACTOR = "CONTRACTOR"
    CUSTOMER = "CUSTOMER"
    VENDOR = "VENDOR"


# Kinds of people from outside the organisation: with no role given they join as guests
# (seed 003: "leaving the roles blank gives the user the Customer permissions").
GUEST_KINDS = frozenset({StaffKind.CUSTOMER, StaffKind.VENDOR})


def default_role(kind: StaffKind | None) -> Role:
    """The role of a record added or invited without one: guest for customers and
    vendors, viewer for the organisation's own people."""
    return Role.GUEST if kind in GUEST_KINDS else Role.VIEWER


class AccountStatus(enum.StrEnum):
    NOT_INVITED = "NOT_INVITED"
    INVITED = "INVITED"
    INVITE_EXPIRED = "INVITE_EXPIRED"
    ACTIVE = "ACTIVE"
    # joined (a join link, an approved join request) with an email not yet confirmed:
    # holds a seat as reserved, and becomes ACTIVE when the login's email is confirmed
    UNCONFIRMED = "UNCONFIRMED"
    DISABLED = "DISABLED"


def _enum(cls, length: int = 16):
    return Enum(cls, native_enum=False, length=length, validate_strings=True)


Money = Numeric(14, 2, asdecimal=False)


# The role sort's key (app.staff.queries._role_key, which a test compares with this): rank
# digit (owner 0 ... guest 4), nameless flag, casefolded last name.
ROLE_ORDER_SQL = (
    "(CASE WHEN (role = 'GUEST') THEN '4' WHEN (role = 'VIEWER') THEN '3' "
    "WHEN (role = 'EDITOR') THEN '2' WHEN (role = 'ADMINISTRATOR') THEN '1' "
    "WHEN (role = 'OWNER') THEN '0' ELSE '9' END "
    "|| CASE WHEN (last_name_key = '') THEN '1' ELSE '0' END || last_name_key)"
)

# Outside the models' metadata (migration 0013), by dialect: the search's trigram
# indexes on PostgreSQL; on SQLite the FTS5 table (with its shadow tables) and the
# triggers keeping it in step with staff. app.staff.queries explains the search.
SEARCH_TRIGRAM_INDEXES = {
    f"ix_staff_search_{column}": column
    for column in ("first_name", "last_name", "title", "company", "email", "role")
}
SEARCH_TABLE = "staff_search"
SEARCH_SHADOW_TABLES = tuple(
    f"{SEARCH_TABLE}_{part}" for part in ("data", "idx", "docsize", "config")
)
SEARCH_TRIGGERS = ("staff_search_insert", "staff_search_update", "staff_search_delete")

# The short-word index (migration 0021; app.staff.queries explains it): each searched
# field's tag, prefixed to the field's substrings of one or two characters.
SHORT_WORD_TAGS = {
    "first_name": "f",
    "last_name": "l",
    "title": "t",
    "company": "c",
    "email": "e",
}
# PostgreSQL: a GIN index on staff_short_grams(first_name, last_name, title, company, email)
SHORT_GRAMS_FUNCTION = "staff_short_grams"
SHORT_GRAMS_INDEX = "ix_staff_short_grams"
# SQLite: a table kept in step by triggers; the positions table numbers the characters
# of a field (fields are at most 255 characters: app.staff.fields)
SHORT_WORD_TABLE = "staff_short_word"
SHORT_WORD_POSITIONS = "staff_short_word_positions"
SHORT_WORD_TRIGGERS = tuple(f"staff_short_word_{e}" for e in ("insert", "update", "delete"))
SHORT_WORDS = table(
    SHORT_WORD_TABLE,
    column("account_id", Integer),
    column("gram", String),
    column("staff_id", Integer),
)

# PostgreSQL: a narrow copy of each record's listing, sort keys and searched text (migration
# 0024; app.staff.queries.MATCHES_FIRST reads it), kept in step by triggers. Each sort
# key's column holds that sort's expression (app.staff.queries.sort_expression). Searched:
# each column of DIRECTORY_TEXTS, which holds the fields named (lower-cased and a newline
# between two, those of DIRECTORY_FOLDED; as stored, and searched by its lower case, the
# others: the email's sort key).
DIRECTORY_KEYS_TABLE = "staff_directory_keys"
DIRECTORY_KEYS_TRIGGERS = tuple(f"{DIRECTORY_KEYS_TABLE}_{e}" for e in ("insert", "update"))
DIRECTORY_TEXTS = {
    "card_text": ("first_name", "last_name", "title", "company"),
    "email_key": ("email",),
}
DIRECTORY_FOLDED = frozenset({"card_text"})
DIRECTORY_KEYS = table(
    DIRECTORY_KEYS_TABLE,
    column("id", Integer),
    column("account_id", Integer),
    column("account_status", _enum(AccountStatus)),
    column("is_inactive", Boolean),
    column("role", _enum(Role)),
    column("created_at", UTCDateTime),
    column("last_name_key", String),
    column("first_name_key", String),
    column("title_key", String),
    column("company_key", String),
    column("email_key", String),
    column("card_text", String),
)


class Staff(Base):
    """A person in an account: the membership (role, user) plus their HR record."""

    __tablename__ = "staff"
    __table_args__ = (
        UniqueConstraint("account_id", "sid"),
        UniqueConstraint("account_id", "email"),
        UniqueConstraint("account_id", "user_id"),
        # an index, not a constraint: SQLite adds one to an existing table only this way
        Index("uq_staff_account_id_external_id", "account_id", "external_id", unique=True),
        Index(
            "uq_staff_one_owner_per_account",
            "account_id",
            unique=True,
            sqlite_where=text("role = 'OWNER'"),
            postgresql_where=text("role = 'OWNER'"),
        ),
        Index("ix_staff_account_last_name", "account_id", "last_name_key", "id"),
        # The default sort: named records by last name, then the nameless ones
        # (app.staff.queries.nameless; the expression must stay the same text).
        Index(
            "ix_staff_account_named_last_name",
            "account_id",
            text("(CASE WHEN last_name_key = '' THEN 1 ELSE 0 END)"),
            "last_name_key",
            "id",
        ),
        # A keyset index for every other sort (app.staff.queries.sort_expression; each
        # expression must stay the same text as the query's). Ascending first-name sorts
        # put the nameless last, as the default sort does, hence two for first names.
        Index(
            "ix_staff_account_named_first_name",
            "account_id",
            text("(CASE WHEN lower(first_name) = '' THEN 1 ELSE 0 END)"),
            text("lower(first_name)"),
            "id",
        ),
        Index("ix_staff_account_first_name", "account_id", text("lower(first_name)"), "id"),
        Index(
            "ix_staff_account_title", "account_id", text("lower(coalesce(title, ''))"), "id"
        ),
        Index(
            "ix_staff_account_company", "account_id", text("lower(coalesce(company, ''))"), "id"
        ),
        Index("ix_staff_account_email", "account_id", text("coalesce(email, '')"), "id"),
        Index("ix_staff_account_created_at", "account_id", "created_at", "id"),
        Index("ix_staff_account_role_order", "account_id", text(ROLE_ORDER_SQL), "id"),
        # The role filter, and counting: the default list (not disabled, not inactive) is
        # counted from this index alone.
        Index("ix_staff_account_role", "account_id", "role"),
        Index("ix_staff_account_listed", "account_id", "is_inactive", "account_status"),
        # The sweep's look for the memberships waiting for a confirmed email, of every
        # account (app.staff.membership.unconfirmed_due): few records, found without
        # reading the others. On ``id`` alone, a column no update changes.
        Index(
            "ix_staff_unconfirmed",
            "id",
            sqlite_where=text("account_status = 'UNCONFIRMED'"),
            postgresql_where=text("account_status = 'UNCONFIRMED'"),
        ),
        CheckConstraint("capacity >= 0", name="capacity_non_negative"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    sid: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.VIEWER)
    kind: Mapped[StaffKind] = mapped_column(_enum(StaffKind), default=StaffKind.EMPLOYEE)
    account_status: Mapped[AccountStatus] = mapped_column(
        _enum(AccountStatus), default=AccountStatus.NOT_INVITED
    )

    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    last_name_key: Mapped[str] = mapped_column(String(100))
    """Casefolded last name, for sorting and keyset paging on an index."""
    title: Mapped[str | None] = mapped_column(String(200), default=None)
    company: Mapped[str | None] = mapped_column(String(200), default=None)
    manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL"), default=None, index=True
    )
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    is_inactive: Mapped[bool] = mapped_column(Boolean, default=False)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)

    # personal data
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    phone_cell: Mapped[str | None] = mapped_column(String(40), default=None)
    phone_work: Mapped[str | None] = mapped_column(String(40), default=None)
    phone_home: Mapped[str | None] = mapped_column(String(40), default=None)
    address_street: Mapped[str | None] = mapped_column(String(500), default=None)
    address_city: Mapped[str | None] = mapped_column(String(100), default=None)
    address_state: Mapped[str | None] = mapped_column(String(100), default=None)
    address_zip: Mapped[str | None] = mapped_column(String(20), default=None)
    address_country: Mapped[str | None] = mapped_column(String(100), default=None)
    ssn_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    salary_encrypted: Mapped[str | None] = mapped_column(Text, default=None)

    # detailed
    status_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_statuses.id", ondelete="SET NULL"), default=None
    )
    start_date: Mapped[date | None] = mapped_column(Date, default=None)
    term_date: Mapped[date | None] = mapped_column(Date, default=None)
    capacity: Mapped[float] = mapped_column(Money, default=160)
    cost_factor: Mapped[float | None] = mapped_column(Money, default=None)
    hour_rate_type: Mapped[int | None] = mapped_column(Integer, default=None)
    rate1: Mapped[float | None] = mapped_column(Money, default=None)
    rate2: Mapped[float | None] = mapped_column(Money, default=None)
    rate3: Mapped[float | None] = mapped_column(Money, default=None)
    rate4: Mapped[float | None] = mapped_column(Money, default=None)
    rate5: Mapped[float | None] = mapped_column(Money, default=None)
    home_timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    default_project_role_id: Mapped[int | None] = mapped_column(
        ForeignKey("project_team_roles.id", ondelete="SET NULL"), default=None
    )
    use_payroll_item: Mapped[bool] = mapped_column(Boolean, default=False)
    staff_org_id: Mapped[int | None] = mapped_column(Integer, default=None)
    post_time_as_billed: Mapped[bool] = mapped_column(Boolean, default=False)
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    """The person's id in an identity provider or HR system (unique per account)."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    """When the record's name card or basic profile last changed (or it was created)."""
    # When its details, its personal data, and its SSN or salary last changed (NULL: not
    # since it was created), each seen only by who sees those (``app.staff.stamps``).
    details_modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    personal_modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    secret_modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    tokens_valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    """Set when the member is disabled: tokens issued before it never act in this
    membership again (sessions are not bound to one account, so they are not revoked)."""


class EndedMembership(Base):
    """When a user's membership of an account last ended with its record's deletion. The
    record, and its ``tokens_valid_from``, are gone; this keeps the cut: a later membership
    of the user there (an invitation accepted, a join) starts with ``tokens_valid_from`` at
    this time, so tokens from before the deletion (a stolen session) never act there
    again, as a disabled member's do not when enabled."""

    __tablename__ = "ended_memberships"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StaffStatus(Base):
    """Account-defined reasons behind a staffer's state (on leave, terminated, ...)."""

    __tablename__ = "staff_statuses"
    __table_args__ = (UniqueConstraint("account_id", "name_key"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffShare(Base):
    """A restricted staff record shared with another member of the same account."""

    __tablename__ = "staff_shares"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    shared_with_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffPermitGrant(Base):
    """A permit given to one member on top of their role (e.g. VIEW_PERSONAL_DATA)."""

    __tablename__ = "staff_permit_grants"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    permit: Mapped[Permit] = mapped_column(_enum(Permit, 32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
