"""The account service: the per-account staff sid sequence (``next_staff_sid``)."""

from __future__ import annotations

from app.accounts.models import Account
from tests.factories import get_row, make_staff_many, make_tenant, update_row

CREATE = """mutation($input: StaffCreateInput!) {
  staffCreate(input: $input) { staff { sid } userErrors { code message } }
}"""


async def test_a_sequence_behind_the_sids_in_use_counts_on_from_the_largest(api, services):
    tenant = await make_tenant(services)
    made = await make_staff_many(
        services, tenant, [{"first_name": "A", "last_name": f"S{i}"} for i in range(3)]
    )
    largest = max(s.sid for s in made)
    # written behind the service's back (a tampered backup did this): the sequence says
    # no sid is taken beyond 1
    await update_row(services, Account, tenant.account_id, staff_seq=1)

    for expected in (largest + 1, largest + 2):
        data = await api.data(CREATE, {"input": {"firstName": "N", "lastName": "New"}},
                              as_=tenant.owner)  # fmt: skip
        assert data["staffCreate"]["userErrors"] == []
        assert data["staffCreate"]["staff"]["sid"] == expected
    assert (await get_row(services, Account, tenant.account_id)).staff_seq == largest + 2
