"""auditLog { totalCount }: the entries the filter matches across all pages, for
administrators of the account only, counted in one statement only when selected."""

from __future__ import annotations

import pytest

from app.access import Role
from tests import connections
from tests.audit.test_audit_log import STATUS_RENAME, audit_log, nodes, status
from tests.connections import statements_of
from tests.factories import error_codes, make_member, make_tenant

WALK = """query($first: Int!, $after: String, $filter: AuditLogFilter) {
  auditLog(first: $first, after: $after, filter: $filter) {
    totalCount
    edges { node { id } }
    pageInfo { hasNextPage endCursor }
  }
}"""
COUNT_ONLY = "{ auditLog { totalCount } }"
PAGE = "{ auditLog(first: 3) { edges { node { id action } } } }"
PAGE_AND_COUNT = "{ auditLog(first: 3) { totalCount edges { node { id action } } } }"


async def walk(api, member, **filter) -> tuple[list[str], int]:
    return await connections.walk(api, member, WALK, "auditLog", filter=filter or None)


async def _world(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    leave = await status(api, tenant.owner, "Leave")
    await status(api, admin, "Away")
    await status(api, tenant.owner, "Parental")
    for name in ("On leave", "Leave of absence", "Long leave"):
        await api.data(STATUS_RENAME, {"id": leave, "name": name}, as_=admin)
    other = await make_tenant(services)
    for name in ("Theirs", "Also theirs"):
        await status(api, other.owner, name)
    return tenant, admin, leave, other


async def test_total_count_is_what_the_pages_walk_with_every_filter(api, services):
    tenant, admin, leave, other = await _world(api, services)
    entries = nodes(await audit_log(api, tenant.owner))
    stamps = sorted({e["createdAt"] for e in entries})
    middle = stamps[len(stamps) // 2]
    filters = [
        {},
        {"actorStaffId": tenant.owner.staff_id},
        {"actorStaffId": admin.staff_id},
        {"actorStaffId": other.owner.staff_id},  # another account's member: none here
        {"action": "staffStatusCreate"},
        {"action": "staffStatusUpdate", "actorStaffId": admin.staff_id},
        {"action": "noSuchMutation"},
        {"action": ""},  # filters nothing
        {"targetId": leave},
        {"targetId": leave, "action": "staffStatusUpdate"},
        {"since": middle},
        {"until": middle},
        {"since": stamps[0], "until": stamps[-1], "action": "staffStatusUpdate"},
    ]
    for member in (tenant.owner, admin):
        for f in filters:
            seen, total = await walk(api, member, **f)
            assert total == len(seen), (f, seen)
        everything, total = await walk(api, member)
        assert total == len(entries) >= 6
    # the other account counts its own entries only, with or without a filter of ours
    theirs, total = await walk(api, other.owner)
    assert total == len(theirs) == 2
    assert (await walk(api, other.owner, targetId=leave))[1] == 0


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
async def test_roles_refused_the_log_are_refused_its_count(api, services, role):
    tenant = await make_tenant(services)
    await status(api, tenant.owner, "Leave")
    member = await make_member(services, tenant, role)
    body = await api(COUNT_ONLY, as_=member)
    assert error_codes(body) == ["FORBIDDEN"], body
    assert body["data"] is None or body["data"].get("auditLog") is None
    assert (await api.data(COUNT_ONLY, as_=tenant.owner))["auditLog"]["totalCount"] == 1


async def test_total_count_costs_one_statement_only_when_selected(api, services):
    tenant, *_ = await _world(api, services)
    owner = tenant.owner
    await api(PAGE, as_=owner)  # the plans and the statements, prepared once
    await api(PAGE_AND_COUNT, as_=owner)
    page = await statements_of(services, api, owner, PAGE)
    counted = await statements_of(services, api, owner, PAGE_AND_COUNT)
    assert len(counted) == len(page) + 1, (page, counted)
    assert not any("count(" in q.lower() for q in page), page
    [count] = [q for q in counted if q not in page]
    assert "count(" in count.lower() and "audit" in count, count
