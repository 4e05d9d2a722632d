"""Ids in SCIM requests that name no User or Group of the account: digits beyond ASCII
("²" and "٣" are digits to Python's ``str.isdigit`` and no number to ``int``), numbers past
the keys' column, ten-digit numbers within it. Each is answered as SCIM says (404 for a
resource, 400 invalidValue for a reference), never as a server error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.scim.helpers import (
    ENTERPRISE,
    GROUP,
    GROUP_SCOPES,
    scim_error,
    scim_for,
    user_body,
)

# Written as an IdP or a client mistyping one could send them.
ODD_IDS = ["²", "٣", "1²", "0", "00001", "1234567890", "2147483647", "2147483648", "9" * 30]


async def _user(s, email: str) -> str:
    response = await s.post("/Users", user_body(email))
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.mark.parametrize("raw", ODD_IDS)
async def test_an_odd_user_id_is_not_found(services, client, raw):
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    await _user(s, "ann@example.com")
    scim_error(await s.get(f"/Users/{raw}"), 404)
    scim_error(await s.patch(f"/Users/{raw}", {"op": "replace", "value": {"title": "x"}}), 404)
    scim_error(await s.delete(f"/Users/{raw}"), 404)
    scim_error(await s.get(f"/Groups/p{raw}"), 404)


@pytest.mark.parametrize("raw", ODD_IDS)
async def test_an_odd_reference_is_an_invalid_value(services, client, raw):
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    await _user(s, "ann@example.com")
    body = user_body("bob@example.com")
    body[ENTERPRISE] = {"manager": {"value": raw}}
    scim_error(await s.post("/Users", body), 400, "invalidValue")
    group = {"schemas": [GROUP], "displayName": "Odd", "members": [{"value": raw}]}
    scim_error(await s.post("/Groups", group), 400, "invalidValue")


@settings(max_examples=40)
@given(raw=st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=12))
async def test_any_digits_are_answered_as_scim_says(services, client, raw):
    """Only the owner's own id, "1", names a User of a new account; no Group exists."""
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    response = await s.get(f"/Users/{raw}")
    assert response.status_code == (200 if raw == "1" else 404), response.text
    response = await s.get(f"/Groups/p{raw}")
    assert response.status_code == 404, response.text


@pytest.mark.parametrize("start", ["99999999999999999999", "9" * 5000, "2147483648",
                                   "-99999999999999999999", "0" * 30 + "2"])
async def test_a_start_index_past_every_result_is_an_empty_page(services, client, start):
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    await _user(s, "ann@example.com")
    for path in ("/Users", "/Groups"):
        for count in (start, "5"):
            answer = await s.get(path, startIndex=start, count=count)
            assert answer.status_code == 200, answer.text
    # the owner and Ann: read from the first (a start below 1 is 1) or the second
    answer = await s.get("/Users", startIndex=start, count="5")
    listed = len(answer.json().get("Resources", []))
    assert listed == {"-": 2, "0": 1}.get(start[0], 0), answer.json()
    big = 10**20
    for path in ("/Users/.search", "/.search"):
        answer = await s.post(path, {"startIndex": big, "count": big})
        assert answer.status_code == 200, answer.text
        assert answer.json().get("Resources", []) == []


@pytest.mark.parametrize("value", ["٣", "1_0", "²", "1e3", "x"])
async def test_a_start_index_that_is_no_integer_is_an_invalid_value(services, client, value):
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    scim_error(await s.get("/Users", startIndex=value), 400, "invalidValue")
    scim_error(await s.post("/Users/.search", {"count": value}), 400, "invalidValue")
