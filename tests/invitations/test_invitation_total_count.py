"""invitations { totalCount }: the invitations the arguments match across all pages, as
the caller may list them (filters included, first/after not), counted in one statement
only when selected."""

from __future__ import annotations

from tests import connections
from tests.connections import statements_of
from tests.factories import error_codes, gid
from tests.invitations.test_invitation_filters import ADMIN_KEYS, PD_KEYS, _setup

WALK = """query($first: Int!, $after: String, $status: InvitationStatus, $staffId: ID,
            $email: String) {
  invitations(first: $first, after: $after, status: $status, staffId: $staffId,
              email: $email) {
    totalCount
    edges { node { id } }
    pageInfo { hasNextPage endCursor }
  }
}"""
COUNT_ONLY = "{ invitations { totalCount } }"
PAGE = "{ invitations(first: 3) { edges { node { id status } } } }"
PAGE_AND_COUNT = "{ invitations(first: 3) { edges { node { id status } } totalCount } }"
STATUSES = (None, "PENDING", "ACCEPTED", "REVOKED", "EXPIRED")


async def walk(api, member, **filters) -> tuple[list[str], int]:
    return await connections.walk(api, member, WALK, "invitations", **filters)


def _filters(s) -> list[dict]:
    ann, bob, cal = (gid("Staff", s[k].id) for k in ("ann", "bob", "cal"))
    out: list[dict] = []
    for status in STATUSES:
        base = {} if status is None else {"status": status}
        out += [
            base,
            {**base, "staffId": ann},
            {**base, "staffId": bob},
            {**base, "staffId": cal},
            {**base, "staffId": gid("Staff", s["dan"].id)},  # another account's record
            {**base, "email": "ANN@example.com"},
            {**base, "email": "bob@example.com", "staffId": bob},
            {**base, "email": "nobody@example.com"},
        ]
    return out


async def test_total_count_is_what_the_pages_walk_with_every_filter(services, api):
    s = await _setup(services, api, everyone_can_invite=True)
    # more of Ann's history: the owner's invitation revoked and sent again, twice
    for key in ("OWNER", "ADMINISTRATOR"):
        member = s["members"][key]
        await api.data(
            'mutation($id: ID!) { invitationRevoke(input: {id: $id}) { userErrors { code } } }',
            {"id": s["latest"]},
            as_=member,
        )
        data = await api.data(
            """mutation($input: InvitationCreateInput!) {
              invitationCreate(input: $input) { invitation { id } userErrors { code } } }""",
            {"input": {"staffId": gid("Staff", s["ann"].id), "email": "ann@example.com"}},
            as_=member,
        )
        s["latest"] = data["invitationCreate"]["invitation"]["id"]
    for key in ("OWNER", "ADMINISTRATOR", "EDITOR+PD"):  # administrators; an inviter's own
        member = s["members"][key]
        for filters in _filters(s):
            seen, total = await walk(api, member, **filters)
            assert total == len(seen), (key, filters, seen)
        everything, total = await walk(api, member)
        if key in ADMIN_KEYS:
            # every invitation of the account (Ann's four, Bob's, Eve's), none of the other's
            assert total == 6 and s["dans"] not in everything, key
        else:
            assert everything == [s["bobs"]] and total == 1, key
    assert (await walk(api, s["other"].owner))[1] == 1  # theirs: Dan's only


async def test_roles_refused_the_list_are_refused_its_count(services, api):
    s = await _setup(services, api)
    for key, member in s["members"].items():
        body = await api(COUNT_ONLY, as_=member)
        if key in ADMIN_KEYS:
            assert body["data"]["invitations"]["totalCount"] == 3, key
        else:  # may not invite (everyoneCanInvite is off)
            assert body["data"] is None and error_codes(body), (key, body)
    # the email filter needs ViewPersonalData for the count as for the page
    s = await _setup(services, api, everyone_can_invite=True)
    for key, member in s["members"].items():
        body = await api(
            'query($e: String) { invitations(email: $e) { totalCount } }',
            {"e": "ann@example.com"},
            as_=member,
        )
        if key in PD_KEYS:
            expected = 2 if key in ADMIN_KEYS else 0
            assert body["data"]["invitations"]["totalCount"] == expected, key
        else:
            assert error_codes(body) == ["BAD_USER_INPUT"], key


async def test_total_count_costs_one_statement_only_when_selected(services, api):
    s = await _setup(services, api)
    owner = s["members"]["OWNER"]
    await api(PAGE, as_=owner)  # the plans and the statements, prepared once
    await api(PAGE_AND_COUNT, as_=owner)
    page = await statements_of(services, api, owner, PAGE)
    counted = await statements_of(services, api, owner, PAGE_AND_COUNT)
    assert len(counted) == len(page) + 1, (page, counted)
    assert not any("count(" in q.lower() for q in page), page
    [count] = [q for q in counted if q not in page]
    assert "count(" in count.lower() and "invitations" in count, count
