"""Every event type of the catalogue about a subscribed record has its kind in the
subscription's enum, so a new event type cannot reach a subscriber as an unknown kind."""

import pytest

from app.events.catalogue import EventType, subject_of
from app.graphql.subscriptions import CustomFieldChangeKind, InvitationChangeKind, StaffChangeKind


@pytest.mark.parametrize(
    ("kinds", "subject"),
    [
        (StaffChangeKind, "Staff"),
        (InvitationChangeKind, "Invitation"),
        (CustomFieldChangeKind, "CustomField"),
    ],
)
def test_each_subscription_knows_every_event_of_its_record(kinds, subject):
    catalogue = {t.value for t in EventType if subject_of(t) == subject}
    assert {kind.value for kind in kinds} == catalogue
