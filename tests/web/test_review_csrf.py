"""The CSRF check of the HTML forms: a post counts only when the browser says it comes from
our own origin. ``Origin: null`` (which any sandboxed or "no-referrer" attacker page makes
a browser send) is refused even with a matching cookie and form token, which an attacker
may be able to plant; so is a post with neither Origin nor Referer."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.factories import make_member, make_tenant, take_mail

PUBLIC = "http://roster.test"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@pytest.fixture
async def bare(app):
    """A client that sends no Origin of its own (each test says what it sends)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=PUBLIC
    ) as client:
        yield client


async def forgot(client, headers: dict, *, planted: str | None = None) -> httpx.Response:
    """POST /password/forgot for a member; with ``planted`` the cookie and form token are
    the attacker's own value instead of the page's."""
    if planted:
        client.cookies.set("roster_csrf", planted, domain="roster.test")
        token = planted
    else:
        token = csrf_of((await client.get("/password/forgot")).text)
    return await client.post(
        "/password/forgot", data={"csrf": token, "email": "member@example.com"}, headers=headers
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "null"},
        {"Origin": "null", "Referer": f"{PUBLIC}/password/forgot"},
        {},
        {"Referer": "https://evil.example/page"},
        {"Origin": "https://evil.example"},
        {"Origin": "http://roster.test.evil.example"},
    ],
    ids=["null", "null-with-referer", "none", "foreign-referer", "foreign", "suffix"],
)
@pytest.mark.parametrize("planted", [None, "attacker-chosen-value-" + "x" * 20])
async def test_a_post_not_from_our_origin_is_refused(bare, services, headers, planted):
    tenant = await make_tenant(services)
    await make_member(services, tenant, email="member@example.com")
    response = await forgot(bare, headers, planted=planted)
    assert response.status_code == 403, response.text
    assert "Please try again" in response.text
    assert await take_mail(services) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": PUBLIC},
        {"Origin": "HTTP://Roster.Test/"},
        {"Referer": f"{PUBLIC}/password/forgot"},  # a browser too old to send Origin
    ],
    ids=["origin", "origin-case", "referer-only"],
)
async def test_a_post_from_our_origin_is_accepted(bare, services, headers):
    tenant = await make_tenant(services)
    await make_member(services, tenant, email="member@example.com")
    response = await forgot(bare, headers)
    assert response.status_code == 200, response.text
    assert "Check your email" in response.text
    [message] = await take_mail(services)
    assert message["To"] == "member@example.com"


async def test_pages_let_the_browser_send_their_origin(bare):
    page = await bare.get("/password/forgot")
    # not "no-referrer": under it browsers send "Origin: null" with the page's own posts
    assert page.headers["referrer-policy"] == "same-origin"
    assert '<meta name="referrer" content="same-origin">' in page.text
