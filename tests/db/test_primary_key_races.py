"""``claim`` on composite primary keys: a refusal answered as an error or as "already there"."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.access import Permit
from app.custom_fields.errors import FieldNameTaken
from app.db.unique import ALREADY_THERE, claim
from app.staff.models import StaffPermitGrant, StaffShare
from tests.factories import make_staff, make_tenant


async def scalar(services, statement):
    async with services.db.session() as session:
        return await session.scalar(statement)


# --- the helper -----------------------------------------------------------------------------


async def test_claim_answers_a_primary_key_as_it_is_told(services):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant, first_name="Gil", last_name="Granted")

    def grant():
        return StaffPermitGrant(
            staff_id=staff.id, permit=Permit.VIEW_PERSONAL_DATA, account_id=tenant.account_id
        )

    async with services.db.session(write=True) as session:
        session.add(grant())
        await session.commit()
    async with services.db.session(write=True) as session:
        async with claim(session, {"pk_staff_permit_grants": ALREADY_THERE}) as claimed:
            session.add(grant())
        assert claimed.already_there == "pk_staff_permit_grants"
        with pytest.raises(FieldNameTaken):
            async with claim(session, {"pk_staff_permit_grants": FieldNameTaken}):
                session.add(grant())
        # another key's refusal is neither: it is raised as it came
        with pytest.raises(IntegrityError):
            async with claim(session, {"pk_staff_shares": ALREADY_THERE}):
                session.add(grant())
        async with claim(session, {"pk_staff_shares": ALREADY_THERE}) as claimed:
            session.add(StaffShare(staff_id=staff.id, shared_with_id=tenant.owner.staff_pk,
                                   account_id=tenant.account_id))
        assert claimed.already_there is None
        # the savepoints were rolled back: the transaction goes on and commits
        await session.commit()
    counted = select(func.count()).select_from(StaffPermitGrant)
    assert await scalar(services, counted.where(StaffPermitGrant.staff_id == staff.id)) == 1
    assert await scalar(services, select(func.count()).select_from(StaffShare).where(
        StaffShare.staff_id == staff.id)) == 1


async def test_claim_refuses_a_primary_key_the_models_do_not_declare(services):
    async with services.db.session() as session:
        with pytest.raises(KeyError):
            async with claim(session, {"pk_project_member": ALREADY_THERE}):
                pass
