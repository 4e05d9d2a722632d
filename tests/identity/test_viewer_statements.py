"""The viewer is shown from what authentication read with the token: ``viewer`` with the
user, role, permits and account costs that one statement; the seat ledger one more."""

import pytest

from app.access import Role
from app.db.statements import StatementCounter
from bench.suite_documents import TOUR_INVITATIONS, TOUR_PICKLISTS, TOUR_VIEWER, VIEWER_QUERY
from tests.factories import make_member, make_status, make_tenant

ROLES = [Role.ADMINISTRATOR, Role.VIEWER]
INVITE = "mutation($e: String!) { invitationCreate(input: {email: $e}) { userErrors { code } } }"


async def _counted(api, services, query: str, member) -> tuple[dict, list[str]]:
    await api.data(query, as_=member)  # the first request of a document parses it
    with StatementCounter(services.db.engine) as counter:
        data = await api.data(query, as_=member)
    return data, counter.statements


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value.lower())
async def test_viewer_takes_the_token_statement_only(api, services, role):
    tenant = await make_tenant(services, "Statement Co")
    member = await make_member(services, tenant, role)
    data, statements = await _counted(api, services, VIEWER_QUERY, member)
    viewer = data["viewer"]
    assert viewer["role"] == role.value
    assert viewer["user"] == {"email": member.email}
    assert viewer["account"] == {"name": "Statement Co", "slug": tenant.slug}
    assert ("MANAGE_ACCOUNT" in viewer["permits"]) == (role == Role.ADMINISTRATOR)
    assert len(statements) == 1, statements


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value.lower())
async def test_the_tours_viewer_adds_one_statement_for_the_seats(api, services, role):
    tenant = await make_tenant(services, seats=7)
    member = await make_member(services, tenant, role)
    data, statements = await _counted(api, services, TOUR_VIEWER, member)
    assert data["viewer"]["account"]["seats"] == {"limit": 7, "used": 2, "available": 5}
    assert len(statements) == 2, statements


async def test_the_tours_invitations_take_three_statements(api, services):
    """The token; the seat ledger (the account is the one the token's statement read);
    the page of invitations."""
    tenant = await make_tenant(services, seats=7)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    for email in ("ada@example.com", "bob@example.com"):
        data = await api.data(INVITE, {"e": email}, as_=admin)
        assert data["invitationCreate"]["userErrors"] == []
    data, statements = await _counted(api, services, TOUR_INVITATIONS, admin)
    assert data["account"]["seats"] == {"limit": 7, "used": 2, "reserved": 2, "available": 3}
    emails = {e["node"]["email"] for e in data["invitations"]["edges"]}
    assert emails == {"ada@example.com", "bob@example.com"}
    assert len(statements) == 3, statements


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value.lower())
async def test_the_tours_picklists_take_the_token_and_the_statuses(api, services, role):
    """The statuses' limit bounds their list (no count for the cost check), and the
    team roles are read only when selected."""
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, role)
    await make_status(services, tenant, "On leave")
    data, statements = await _counted(api, services, TOUR_PICKLISTS, member)
    assert [s["name"] for s in data["picklists"]["staffStatuses"]] == ["On leave"]
    assert len(statements) == 2, statements
    roles = "{ picklists { staffKinds projectTeamRoles { name } } }"
    data, statements = await _counted(api, services, roles, member)
    assert data["picklists"]["projectTeamRoles"] == []
    # the token with the roles' count (for the cost check, read beside it), the statuses,
    # the roles
    assert len(statements) == 3, statements
    assert "project_team_roles" in statements[0], statements
