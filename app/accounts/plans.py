"""Named plans and their seat limits."""

import enum


class Plan(enum.StrEnum):
    FREE = "FREE"
    TEAM = "TEAM"
    BUSINESS = "BUSINESS"
    CUSTOM = "CUSTOM"


PLAN_SEATS: dict[Plan, int | None] = {
    Plan.FREE: 5,
    Plan.TEAM: 25,
    Plan.BUSINESS: 100,
    Plan.CUSTOM: None,  # the owner names the limit
}
MAX_CUSTOM_SEATS = 100_000
