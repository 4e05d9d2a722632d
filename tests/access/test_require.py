"""One refusal per rule: ``access.require`` words each permit's refusal from its row in
PERMIT_ALLOWS, and services raise AccessDenied through it rather than inline."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.access import Actor, Permit, Role, refuse_impersonation, require, require_owner
from app.access.roles import PERMIT_ALLOWS, ROLE_PERMITS
from app.errors import AccessDenied

ROOT = Path(__file__).resolve().parents[2]

# AccessDenied raised outside app/access: rules that are not about a permit, one place each.
OWN_RULES = {
    "app/staff/service.py": 1,  # the actor's role changed under a running request (lock_members)
    # a record's custom fields (REST's UDFList), refused per record: its details unseen
    "app/custom_fields/service.py": 1,
}


def actor(role: Role, *, impersonated: bool = False, permits=None) -> Actor:
    return Actor(
        user_id=1,
        account_id=1,
        staff_id=1,
        role=role,
        permits=ROLE_PERMITS[role] if permits is None else frozenset(permits),
        impersonator_user_id=2 if impersonated else None,
    )


def test_every_permit_says_what_it_allows():
    assert set(PERMIT_ALLOWS) == set(Permit)
    assert all(text and not text.endswith(".") for text in PERMIT_ALLOWS.values())


@pytest.mark.parametrize("permit", list(Permit))
def test_require_refuses_in_the_permits_words(permit):
    require(actor(Role.OWNER), permit)
    with pytest.raises(AccessDenied) as caught:
        require(actor(Role.OWNER, permits=set(Permit) - {permit}), permit)
    assert PERMIT_ALLOWS[permit] in str(caught.value)
    # the same permit is refused in the same words wherever it is needed
    with pytest.raises(AccessDenied) as again:
        require(actor(Role.OWNER, permits=set(Permit) - {permit}), permit)
    assert str(again.value) == str(caught.value)


def test_billing_is_never_used_through_an_impersonation_token():
    require(actor(Role.OWNER), Permit.MANAGE_BILLING)
    require(actor(Role.ADMINISTRATOR, impersonated=True), Permit.MANAGE_ACCOUNT)
    with pytest.raises(AccessDenied):
        require(actor(Role.OWNER, impersonated=True), Permit.MANAGE_BILLING)
    with pytest.raises(AccessDenied):
        refuse_impersonation(actor(Role.ADMINISTRATOR, impersonated=True))
    refuse_impersonation(actor(Role.ADMINISTRATOR))


def test_only_the_owner_is_the_owner():
    require_owner(actor(Role.OWNER))
    with pytest.raises(AccessDenied):
        require_owner(actor(Role.ADMINISTRATOR, permits=set(Permit)))


def test_services_refuse_through_access_require():
    raised: dict[str, int] = {}
    for path in sorted((ROOT / "app").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name.startswith("app/access/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Raise)
                and isinstance(node.exc, ast.Call)
                and ast.unparse(node.exc.func).endswith("AccessDenied")
            ):
                raised[name] = raised.get(name, 0) + 1
    assert raised == OWN_RULES
