"""The BigTime catalogue (app.rest.fields) covers Roster's staff fields: each staff field
with an API name is a BigTime field or explicitly not part of BigTime's catalogue, and
every field name of the seed's catalogue is there."""

from __future__ import annotations

from app.rest.fields import BY_FIELD, CATALOGUE, NOT_IN_CATALOGUE, View, in_view
from app.staff.fields import STAFF

# The seed's "Staff: Field Details", in its order.
SEED_FIELDS = [
    "StaffSid", "FName", "SName", "Title", "ManagerID", "Address", "EMail", "Phone_Cell",
    "Phone_Wk", "Phone_Hm", "Notes", "IsInactive", "Status", "Start_dt", "Term_dt",
    "UsePayrollItem", "Capacity", "CostFactor", "HourRateType", "Rate1", "Rate2", "Rate3",
    "Rate4", "Rate5", "StaffOrgId", "StaffType", "HomeTimezone", "DtCreated", "DtModified",
    "SecurityGroup", "DefaultRole", "UdfList", "SSN", "Salary", "PostTimeAsBilled",
]


def test_every_staff_field_with_an_api_name_is_mapped_or_left_out_on_purpose():
    shown = {row.name for row in STAFF if row.api is not None}
    mapped = set(BY_FIELD)
    assert mapped <= {row.name for row in STAFF}, mapped - {row.name for row in STAFF}
    assert not mapped & NOT_IN_CATALOGUE
    assert shown - mapped == NOT_IN_CATALOGUE, shown - mapped


def test_the_catalogue_is_the_seeds():
    assert [f.name for f in CATALOGUE] == SEED_FIELDS
    assert len({f.name.casefold() for f in CATALOGUE}) == len(CATALOGUE)


def test_the_update_view_writes_only_writable_fields():
    for f in in_view(View.UPDATE):
        assert f.field is not None and STAFF[f.field].clean is not None, f.name
    assert {f.name for f in CATALOGUE if f.required} == {"SName", "EMail"}
