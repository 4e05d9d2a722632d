"""Invitations meeting the other defences, as a member without the personal-data permit.

An editor may name their own record in ``invitationCreate`` (they may edit it and write
its email). Whatever address they give, the answer must not tell whether another record
of the account has that address: the same one answer as for any address in the account.
"""

import pytest

from app.access import Role
from app.accounts.models import Account
from tests.factories import make_member, make_staff, make_tenant, update_row

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) {
    invitation { id }
    userErrors { field code message }
  }
}"""


@pytest.mark.asyncio
async def test_inviter_naming_own_record_learns_nothing_about_other_addresses(api, services):
    tenant = await make_tenant(services)
    await update_row(services, Account, tenant.account_id, everyone_can_invite=True)
    editor = await make_member(services, tenant, Role.EDITOR)
    await make_staff(services, tenant, first_name="Hidden", last_name="Person",
                     email="hidden.person@example.com")

    async def answer(email):
        body = await api.data(
            INVITE, {"input": {"staffId": editor.staff_id, "email": email}}, as_=editor
        )
        result = body["invitationCreate"]
        assert result["invitation"] is None
        return result["userErrors"]

    taken = await answer("hidden.person@example.com")
    free = await answer("nobody.here@example.com")
    assert taken == free
    assert [e["code"] for e in taken] == ["FORBIDDEN"]
