"""An entry's diff holds at most ``DIFF_ROWS_PER_ENTRY`` changed rows: a mutation that
changes more rows of an account is logged as consecutive entries, and the cost check
prices a diff by what it can hold, so a page of the log is bounded before it runs."""

from __future__ import annotations

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.audit.service import DIFF_ROWS_PER_ENTRY
from tests.audit.test_audit_log import audit_log, nodes
from tests.factories import error_codes, make_tenant
from tests.staff.test_bulk_import import run, to_csv

NEW_ROWS = 2 * DIFF_ROWS_PER_ENTRY + 7  # three parts, the last one short


def _people(count: int) -> str:
    return to_csv(
        [{"firstName": f"First{i}", "lastName": f"Last{i}", "kind": "employee"}
         for i in range(count)]
    )  # fmt: skip


async def _import_entries(services, account_id: int) -> list[AuditEntry]:
    async with services.db.session() as session:
        return list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.account_id == account_id, AuditEntry.action == "staffImport")
                .order_by(AuditEntry.id)
            )
        )


async def test_a_mutation_of_many_rows_is_logged_in_consecutive_bounded_entries(api, services):
    tenant = await make_tenant(services)
    done = await run(api, tenant.owner, _people(NEW_ROWS), apply=True)
    assert (done["created"], done["failed"], done["applied"]) == (NEW_ROWS, 0, True)

    entries = await _import_entries(services, tenant.account_id)
    assert [len(e.diff) for e in entries] == [
        DIFF_ROWS_PER_ENTRY,
        DIFF_ROWS_PER_ENTRY,
        7 + sum(1 for c in entries[-1].diff if c["table"] != "staff"),
    ]
    ids = [e.id for e in entries]
    assert ids == list(range(ids[0], ids[0] + len(ids))), "the parts follow each other"
    # one mutation: the same request, actor and target on every part
    assert len({(e.request_id, e.actor_staff_id, e.target_type, e.target_id) for e in entries}) == 1
    assert entries[0].request_id
    # together they hold every created record once, in the order it was written
    created = [c for e in entries for c in e.diff if c["table"] == "staff" and c["op"] == "insert"]
    assert [c["fields"]["first_name"][1] for c in created] == [
        f"First{i}" for i in range(NEW_ROWS)
    ]

    # the log shows them as entries of their own, newest first
    shown = [e for e in nodes(await audit_log(api, tenant.owner)) if e["action"] == "staffImport"]
    assert [len(e["diff"]) for e in shown] == [len(e.diff) for e in reversed(entries)]


async def test_a_mutation_of_few_rows_is_still_one_entry(api, services):
    tenant = await make_tenant(services)
    done = await run(api, tenant.owner, _people(3), apply=True)
    assert done["created"] == 3
    [entry] = await _import_entries(services, tenant.account_id)
    assert sum(1 for c in entry.diff if c["table"] == "staff") == 3


def _pages_of_diffs(copies: int) -> str:
    pages = " ".join(
        f"p{i}: auditLog(first: 100) {{ edges {{ node {{ diff }} }} }}" for i in range(copies)
    )
    return "{ " + pages + " }"


async def test_a_diff_costs_what_it_can_hold(api, services):
    tenant = await make_tenant(services)
    # four full pages of diffs fit the limit; five are refused before anything runs,
    # where pricing a diff as one value let any number of them through
    fits = await api(_pages_of_diffs(4), as_=tenant.owner)
    assert not fits.get("errors"), fits
    refused = await api(_pages_of_diffs(5), as_=tenant.owner)
    assert refused.get("data") is None
    assert error_codes(refused) == ["BAD_USER_INPUT"]
    assert "cost" in refused["errors"][0]["message"]
    # the same pages without the diffs cost little
    light = await api(_pages_of_diffs(5).replace("diff", "id"), as_=tenant.owner)
    assert not light.get("errors"), light
