"""The account service: the per-account staff sid sequence (``next_staff_sid``)."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

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


async def test_the_sessions_account_holds_the_sequence_it_was_given(services):
    """A caller that reads the Account it holds after taking sids (the seeding of a new
    account does) gets the new value, not an attribute to reload outside the greenlet."""
    from app.accounts.service import next_staff_sid

    tenant = await make_tenant(services)
    async with services.db.session(write=True) as session:
        account = await session.get(Account, tenant.account_id)
        before = account.staff_seq
        last = await next_staff_sid(session, tenant.account_id, count=3)
        assert last == before + 3
        assert account.staff_seq == last  # no lazy load: MissingGreenlet if it expired
        await session.commit()
    assert (await get_row(services, Account, tenant.account_id)).staff_seq == last



@example("2024")
@example("Pending Partners")
@example("")
@given(st.text(max_size=60) | st.from_regex(r"[0-9 ]{1,12}", fullmatch=True))
def test_a_slug_made_from_a_name_is_one_a_client_could_have_chosen(name):
    """Never all digits (a realm of digits names an account by id: an account named "2024"
    answered for account 2024), three characters at least, the typed slugs' alphabet."""
    from app.accounts.service import _SLUG, PENDING_PREFIX, slugify

    slug = slugify(name)
    assert _SLUG.match(slug), slug
    assert not slug.isdigit() and not slug.startswith(PENDING_PREFIX)
