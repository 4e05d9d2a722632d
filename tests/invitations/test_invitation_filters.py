"""From a staff record to its invitation (seed 000 resends "from the staff detail page"),
and the invitation list filtered by staff, email and status: for every role, the
non-administering inviter (``everyoneCanInvite``), and another account."""

from __future__ import annotations

from app.accounts.models import Account
from app.db.statements import StatementCounter
from tests.factories import (
    ROLE_KEYS,
    error_codes,
    gid,
    make_staff_many,
    make_tenant,
    member_as,
    update_row,
)

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { field code message } }
}"""
REVOKE = """mutation($id: ID!) {
  invitationRevoke(input: {id: $id}) { invitation { id } userErrors { field code } }
}"""
STAFF_INVITATION = """query($sid: Int!) {
  staffBySid(sid: $sid) { id invitation { id status email staff { id } } }
}"""
NODE_INVITATION = """query($id: ID!) {
  node(id: $id) { ... on Staff { id invitation { id email } } }
}"""
PAGE_INVITATIONS = """query($first: Int!) {
  staff(first: $first) { nodes { id invitation { id status inviter { id } } } }
}"""
LIST = """query($first: Int = 50, $after: String, $status: InvitationStatus, $staffId: ID,
            $email: String) {
  invitations(first: $first, after: $after, status: $status, staffId: $staffId,
              email: $email) {
    edges { cursor node { id status email staff { id } } }
    pageInfo { hasNextPage endCursor }
  }
}"""

PD_KEYS = {"VIEWER+PD", "EDITOR+PD", "ADMINISTRATOR", "OWNER"}
ADMIN_KEYS = {"ADMINISTRATOR", "OWNER"}


async def _invite(api, member, **input) -> str:
    data = await api.data(INVITE, {"input": input}, as_=member)
    assert data["invitationCreate"]["userErrors"] == [], data
    return data["invitationCreate"]["invitation"]["id"]


async def _setup(services, api, *, everyone_can_invite: bool = False):
    """Ann was invited, the invitation revoked, and invited again (by the owner); Bob was
    invited by the editor with ViewPersonalData when everyone may invite (else by the
    owner), and then the plain editor invited a new person, Eve; Cal never was invited."""
    tenant = await make_tenant(services)
    members = {key: await member_as(api, services, tenant, key) for key in ROLE_KEYS}
    if everyone_can_invite:
        await update_row(services, Account, tenant.account_id, everyone_can_invite=True)
    ann, bob, cal = await make_staff_many(
        services,
        tenant,
        [
            dict(first_name="Ann", last_name="Able", email="ann@example.com"),
            dict(first_name="Bob", last_name="Baker", email="bob@example.com"),
            dict(first_name="Cal", last_name="Cole", email="cal@example.com"),
        ],
    )
    owner = members["OWNER"]
    first = await _invite(api, owner, staffId=gid("Staff", ann.id), email="ann@example.com")
    revoked = await api.data(REVOKE, {"id": first}, as_=owner)
    assert revoked["invitationRevoke"]["userErrors"] == []
    latest = await _invite(api, owner, staffId=gid("Staff", ann.id), email="Ann@Example.com")
    bob_inviter = members["EDITOR+PD"] if everyone_can_invite else owner
    bobs = await _invite(api, bob_inviter, staffId=gid("Staff", bob.id), email="bob@example.com")
    eves = None
    if everyone_can_invite:
        eves = await _invite(
            api, members["EDITOR"], email="eve@example.com", firstName="Eve", lastName="Evans"
        )
    other = await make_tenant(services)
    (dan,) = await make_staff_many(
        services, other, [dict(first_name="Dan", last_name="Dunn", email="ann@example.com")]
    )
    dans = await _invite(api, other.owner, staffId=gid("Staff", dan.id), email="ann@example.com")
    return dict(
        tenant=tenant,
        members=members,
        ann=ann,
        bob=bob,
        cal=cal,
        first=first,
        latest=latest,
        bobs=bobs,
        eves=eves,
        other=other,
        dan=dan,
        dans=dans,
    )


async def _invitation_of(api, member, staff) -> dict | None:
    data = await api.data(STAFF_INVITATION, {"sid": staff.sid}, as_=member)
    return data["staffBySid"]["invitation"]


# --- Staff.invitation ---------------------------------------------------------------


async def test_staff_invitation_is_the_latest_for_every_role(services, api):
    s = await _setup(services, api)
    for key, member in s["members"].items():
        ann = await _invitation_of(api, member, s["ann"])
        bob = await _invitation_of(api, member, s["bob"])
        cal = await _invitation_of(api, member, s["cal"])
        assert cal is None, key
        if key not in ADMIN_KEYS:  # may not invite (everyoneCanInvite is off): sees none
            assert ann is None and bob is None, key
            continue
        assert ann["id"] == s["latest"] and ann["status"] == "PENDING", key
        assert ann["email"] == "ann@example.com"  # stored normalised
        assert ann["staff"] == {"id": gid("Staff", s["ann"].id)}
        assert bob["id"] == s["bobs"], key


async def test_staff_invitation_for_inviters_who_do_not_administer(services, api):
    """With everyoneCanInvite, a viewer or editor sees the invitations they sent and no
    other: the editors see theirs, not Ann's (the owner's, and no older one either)."""
    s = await _setup(services, api, everyone_can_invite=True)
    eve_staff = (await _list(api, s["members"]["OWNER"], email="eve@example.com"))[0]["staff"]
    for key, member in s["members"].items():
        ann = await _invitation_of(api, member, s["ann"])
        bob = await _invitation_of(api, member, s["bob"])
        eve = (await api.data(NODE_INVITATION, {"id": eve_staff["id"]}, as_=member))["node"]
        eve = eve["invitation"]
        if key in ADMIN_KEYS:
            assert ann["id"] == s["latest"] and bob["id"] == s["bobs"], key
            assert eve["id"] == s["eves"] and eve["email"] == "eve@example.com", key
        elif key == "EDITOR+PD":
            assert ann is None and eve is None, key
            assert bob["id"] == s["bobs"] and bob["email"] == "bob@example.com", key
        elif key == "EDITOR":
            assert ann is None and bob is None, key
            # no ViewPersonalData: the invitee's email is hidden, as in the list
            assert eve["id"] == s["eves"] and eve["email"] is None, key
        else:
            assert ann is None and bob is None and eve is None, key


async def test_another_account_reaches_neither_the_record_nor_its_invitation(services, api):
    s = await _setup(services, api)
    other = s["other"]
    for staff in (s["ann"], s["bob"]):
        data = await api.data(NODE_INVITATION, {"id": gid("Staff", staff.id)}, as_=other.owner)
        assert data["node"] is None
    # the same sid in their account is their own record, with their own invitation
    dan = await _invitation_of(api, other.owner, s["dan"])
    assert dan["id"] == s["dans"]
    # and ours never shows theirs
    owner = s["members"]["OWNER"]
    ours = await api.data(PAGE_INVITATIONS, {"first": 100}, as_=owner)
    ids = {n["invitation"]["id"] for n in ours["staff"]["nodes"] if n["invitation"]}
    assert ids == {s["latest"], s["bobs"]}


async def test_staff_invitation_takes_one_statement_for_a_whole_page(services, api, client):
    s = await _setup(services, api)
    owner = s["members"]["OWNER"]
    counts = []
    for first in (2, 100):
        with StatementCounter(services.db.engine) as counter:
            body = await api(PAGE_INVITATIONS, {"first": first}, as_=owner)
        assert "errors" not in body
        counts.append(counter.count)
    assert counts[0] == counts[1], counts
    nodes = body["data"]["staff"]["nodes"]
    assert sum(1 for n in nodes if n["invitation"]) == 2


# --- invitations(staffId, email, status) --------------------------------------------


async def _list(api, member, **variables) -> list[dict]:
    data = await api.data(LIST, variables, as_=member)
    return [e["node"] for e in data["invitations"]["edges"]]


async def test_filters_by_staff_and_status_for_every_role(services, api):
    s = await _setup(services, api)
    ann_id = gid("Staff", s["ann"].id)
    for key, member in s["members"].items():
        body = await api(LIST, {"staffId": ann_id}, as_=member)
        if key not in ADMIN_KEYS:
            assert body["data"] is None and error_codes(body), key  # may not invite
            continue
        found = [e["node"]["id"] for e in body["data"]["invitations"]["edges"]]
        assert found == [s["latest"], s["first"]], key
        pending = await _list(api, member, staffId=ann_id, status="PENDING")
        assert [n["id"] for n in pending] == [s["latest"]]
        revoked = await _list(api, member, staffId=ann_id, status="REVOKED")
        assert [n["id"] for n in revoked] == [s["first"]]
        assert await _list(api, member, staffId=gid("Staff", s["cal"].id)) == []
        # another account's record, a malformed id, an id of another type: nothing
        for foreign in (gid("Staff", s["dan"].id), "not-an-id", gid("Invitation", 1)):
            assert await _list(api, member, staffId=foreign) == [], (key, foreign)
        everything = await _list(api, member, status="PENDING")
        assert {n["id"] for n in everything} == {s["latest"], s["bobs"]}


async def test_filter_by_email_any_case_with_the_personal_data_permit(services, api):
    s = await _setup(services, api, everyone_can_invite=True)
    for key, member in s["members"].items():
        body = await api(LIST, {"email": "  ANN@example.COM "}, as_=member)
        if key not in PD_KEYS:  # inviters without ViewPersonalData: no side channel
            assert error_codes(body) == ["BAD_USER_INPUT"], key
            assert "ViewPersonalData" in body["errors"][0]["message"]
            continue
        found = [e["node"]["id"] for e in body["data"]["invitations"]["edges"]]
        if key in ADMIN_KEYS:
            # both of Ann's, never the other account's invitation to the same address
            assert found == [s["latest"], s["first"]], key
            pending = await _list(api, member, email="ann@EXAMPLE.com", status="PENDING")
            assert [n["id"] for n in pending] == [s["latest"]]
            bobs = await _list(
                api, member, email="BOB@example.com", staffId=gid("Staff", s["bob"].id)
            )
            assert [n["id"] for n in bobs] == [s["bobs"]]
        else:  # a non-administering inviter: only those they sent (none to Ann)
            assert found == [], key
            bobs = await _list(api, member, email="Bob@Example.com")
            assert [n["id"] for n in bobs] == ([s["bobs"]] if key == "EDITOR+PD" else [])
        assert await _list(api, member, email="nobody@example.com") == []
    other = await _list(api, s["other"].owner, email="ann@example.com")
    assert [n["id"] for n in other] == [s["dans"]]


async def test_an_inviter_who_does_not_administer_filters_only_their_own(services, api):
    s = await _setup(services, api, everyone_can_invite=True)
    editor = s["members"]["EDITOR+PD"]
    bob_id = gid("Staff", s["bob"].id)
    assert [n["id"] for n in await _list(api, editor)] == [s["bobs"]]
    assert [n["id"] for n in await _list(api, editor, staffId=bob_id)] == [s["bobs"]]
    assert [n["id"] for n in await _list(api, editor, staffId=bob_id, status="PENDING")] == [
        s["bobs"]
    ]
    assert await _list(api, editor, staffId=gid("Staff", s["ann"].id)) == []
    assert await _list(api, editor, status="REVOKED") == []
    plain = s["members"]["EDITOR"]
    assert [n["id"] for n in await _list(api, plain)] == [s["eves"]]
    assert await _list(api, plain, staffId=bob_id) == []
    viewer = s["members"]["VIEWER"]
    assert await _list(api, viewer, staffId=bob_id) == []


async def test_a_bad_email_filter_is_refused(services, api):
    s = await _setup(services, api)
    owner = s["members"]["OWNER"]
    for bad in ("a\x00b@example.com", "x" * 400):
        body = await api(LIST, {"email": bad}, as_=owner)
        assert error_codes(body) == ["BAD_USER_INPUT"], bad


async def test_filtered_pages_keep_paging(services, api):
    s = await _setup(services, api)
    owner = s["members"]["OWNER"]
    for _ in range(3):  # more of Ann's history: revoke and invite again
        await api.data(REVOKE, {"id": s["latest"]}, as_=owner)
        s["latest"] = await _invite(
            api, owner, staffId=gid("Staff", s["ann"].id), email="ann@example.com"
        )
    ann_id = gid("Staff", s["ann"].id)
    after, seen = None, []
    while True:
        data = await api.data(LIST, {"first": 2, "after": after, "staffId": ann_id}, as_=owner)
        page = data["invitations"]
        seen += [e["node"]["id"] for e in page["edges"]]
        assert all(e["node"]["staff"]["id"] == ann_id for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == 5 and seen[0] == s["latest"] and len(set(seen)) == 5
    latest = await _invitation_of(api, owner, s["ann"])
    assert latest["id"] == s["latest"]
