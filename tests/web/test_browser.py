"""The whole invitation flow as a person lives it: the real server (uvicorn, with its
lifespan relay), a real SMTP server, and headless Chromium following the emailed link."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from pathlib import Path

import httpx
import pytest
import uvicorn

from app.main import create_app
from app.services import Services
from tests.conftest import make_settings
from tests.factories import Api, SmtpSink, make_tenant

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "a long browser password"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


@contextlib.asynccontextmanager
async def live_server(app, sock: socket.socket):
    """Serve ``app`` (lifespan included) with uvicorn on a bound socket, in this event loop."""
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(200):
            if server.started or serving.done():
                break
            await asyncio.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield server
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=15)
    assert serving.exception() is None


async def test_invited_person_accepts_in_a_browser_and_signs_in(database_url):
    from playwright.async_api import async_playwright

    smtp = SmtpSink().start()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(
        database_url,
        public_url=base,
        email_backend="smtp",
        smtp_port=smtp.port,
        smtp_timeout_seconds=5,
        email_relay_poll_seconds=0.1,
    )
    services = Services.from_settings(settings)
    try:
        tenant = await make_tenant(services, "Browser & Co")
        async with live_server(create_app(settings, services=services), sock):
            await _flow(base, tenant, smtp, async_playwright)
        with pytest.raises(httpx.ConnectError):  # the server is down again
            async with httpx.AsyncClient(base_url=base) as client:
                await client.get("/healthz")
    finally:
        sock.close()
        smtp.stop()
        await services.close()  # the lifespan closed it already; closing twice is harmless


async def _flow(base: str, tenant, smtp: SmtpSink, async_playwright) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        api = Api(client)
        invited = await api.data(
            """mutation { invitationCreate(input: {email: "browser.user@example.com",
                 role: EDITOR, message: "See you soon"}) {
                 invitation { status } userErrors { code } } }""",
            as_=tenant.owner,
        )
        assert invited["invitationCreate"]["userErrors"] == []

        # The server's own background relay delivers it; no test code runs the relay.
        [message] = await smtp.wait_for(1)
        assert smtp.envelopes[0].rcpt_tos == ["browser.user@example.com"]
        assert message["Subject"].endswith("invited you to Browser & Co on Roster")
        link = re.search(r"https?://\S+", message.get_body(("plain",)).get_content()).group(0)
        assert link.startswith(f"{base}/invitations/accept?token=")

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = await browser.new_page()
                response = await page.goto(link)
                assert response.status == 200
                assert response.headers["x-frame-options"] == "DENY"
                assert "Browser & Co" in await page.inner_text("main")
                await page.fill("#first_name", "Brow")
                await page.fill("#last_name", "Ser")
                await page.fill("#password", PASSWORD)
                async with page.expect_navigation():
                    await page.click("button[type=submit]")
                result = page.locator("#result")
                await result.wait_for()
                await page.screenshot(path="/tmp/accept.png", full_page=True)
                assert await result.inner_text() == (
                    "You joined Browser & Co. Sign in with browser.user@example.com."
                )
                assert await page.title() == "Welcome aboard · Roster"

                # The link is spent: opening it again says so.
                again = await page.goto(link)
                assert again.status == 410
                assert "already accepted" in await page.inner_text("#result")
            finally:
                await browser.close()

        login = await api.data(
            """mutation($p: String!) { login(input: {email: "browser.user@example.com",
                 password: $p}) { token accounts { name role } userErrors { code } } }""",
            {"p": PASSWORD},
        )
        assert login["login"]["userErrors"] == []
        assert login["login"]["accounts"] == [{"name": "Browser & Co", "role": "EDITOR"}]
        viewer = await api.data(
            "{ viewer { account { name } staff { firstName lastName accountStatus } } }",
            token=login["login"]["token"],
            realm=tenant.slug,
        )
        assert viewer["viewer"]["account"] == {"name": "Browser & Co"}
        assert viewer["viewer"]["staff"] == {
            "firstName": "Brow",
            "lastName": "Ser",
            "accountStatus": "ACTIVE",
        }
