"""Collects what a unit of work changed, from the ORM's own attribute history.

A listener on every flush records inserts, updates and deletes of audited models into
``session.info``; the audit service turns them into one entry per mutation. Capturing at
the ORM level means a new mutation is audited without anyone remembering to call a
function, and the diff is what was really written.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.fields import Audit, UnknownField, on_change
from app.fields import table as field_table

CHANGES_KEY = "roster_audit_changes"
REDACTED = "[redacted]"

NOT_AUDITED = frozenset({"email_outbox", "audit_entries", "events", "rate_limit_buckets"})

# table -> column -> what the log keeps of it: the field tables' rows (``app.fields``).
# Personal and secret columns are never copied into the log (it is read by administrators
# and their keys, who may lack the ViewPersonalData permit: to them the log does not even
# name those columns, ``app.audit.service.shown_diff``); bookkeeping is left out. Read once per
# table, and again if a row changes.
_RULES: dict[str, dict[str, Audit]] = {}


@on_change
def _forget_rules() -> None:
    _RULES.clear()


def _rules(table: str) -> dict[str, Audit]:
    try:
        return _RULES[table]
    except KeyError:
        columns = field_table(table).columns
        rules = _RULES[table] = {column: row.audited for column, row in columns.items()}
        return rules


def _plain(value):
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _changes_of(obj, op: str) -> dict | None:
    state = inspect(obj)
    table = obj.__table__.name
    if table in NOT_AUDITED:
        return None
    rules = _rules(table)
    fields = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        rule = rules.get(key)
        if rule is None:
            raise UnknownField(f"{table}.{key} has no row in its field table")
        if rule is Audit.IGNORED:
            continue
        if attr.deferred and key in state.unloaded:
            continue  # never loaded, so not changed here (its old value is not at hand)
        hist = state.attrs[key].history
        if op == "update":
            if not hist.has_changes():
                continue
            before = hist.deleted[0] if hist.deleted else None
            after = hist.added[0] if hist.added else None
        elif op == "insert":
            before, after = None, state.attrs[key].value
            if after is None:
                continue
        else:
            before, after = state.attrs[key].value, None
        if rule is Audit.REDACTED:
            fields[key] = [
                REDACTED if before is not None else None,
                REDACTED if after is not None else None,
            ]
        else:
            fields[key] = [_plain(before), _plain(after)]
    if op == "update" and not fields:
        return None
    key = [_plain(v) for v in state.mapper.primary_key_from_instance(obj)]
    return {
        "table": table,
        "id": key[0] if len(key) == 1 else None,
        "key": key,
        "op": op,
        "account_id": getattr(obj, "account_id", None),
        "fields": fields,
    }


def _after_flush(session: Session, _context) -> None:
    bucket = session.info.setdefault(CHANGES_KEY, [])
    for op, objs in (
        ("insert", session.new),
        ("update", session.dirty),
        ("delete", session.deleted),
    ):
        for obj in objs:
            if hasattr(obj, "__table__"):
                change = _changes_of(obj, op)
                if change is not None:
                    bucket.append(change)


def install() -> None:
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)


def take(session) -> list[dict]:
    """The changes collected so far (and forget them)."""
    return session.sync_session.info.pop(CHANGES_KEY, [])


def forget(session) -> None:
    session.sync_session.info.pop(CHANGES_KEY, None)


def note(session, table: str, row_id: int, account_id: int | None, fields: dict) -> None:
    """Record a change made by a bulk UPDATE (which bypasses the flush listener)."""
    session.sync_session.info.setdefault(CHANGES_KEY, []).append(
        {
            "table": table,
            "id": row_id,
            "key": [row_id],
            "op": "update",
            "account_id": account_id,
            "fields": {k: [_plain(v[0]), _plain(v[1])] for k, v in fields.items()},
        }
    )


def of_removal(obj) -> dict | None:
    """What deleting ``obj`` (a loaded row) changes, as the flush listener would record it;
    ``keep`` it once a statement has really deleted the row (``app.db.removal``)."""
    return _changes_of(obj, "delete")


def keep(session: Session, change: dict | None) -> None:
    """Record a change made by a statement the flush listener does not see (``session``
    is the sync session, as inside ``AsyncSession.run_sync``)."""
    if change is not None:
        session.info.setdefault(CHANGES_KEY, []).append(change)


def mark(session) -> int:
    """A position to roll the collected changes back to (see ``rollback_to``)."""
    return len(session.sync_session.info.get(CHANGES_KEY, []))


def rollback_to(session, position: int) -> None:
    """Forget changes collected after ``position``: their savepoint was rolled back."""
    bucket = session.sync_session.info.get(CHANGES_KEY)
    if bucket is not None:
        del bucket[position:]


install()
