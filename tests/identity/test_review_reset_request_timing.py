"""passwordResetRequest (and /password/forgot) do the same database work before they
answer, whether or not the email has a login: the look-up and the link come after."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import event

from tests.factories import make_member, make_tenant, take_mail

REQUEST = """mutation($e: String!) {
  passwordResetRequest(input: {email: $e}) { ok userErrors { code } }
}"""


class Recorder:
    """The SQL statements a request runs before its response body is sent."""

    def __init__(self, app, services):
        self.app, self.statements, self.answered = app, [], False
        event.listen(services.db.engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        if not self.answered:
            self.statements.append(re.sub(r"\s+", " ", statement))

    async def __call__(self, scope, receive, send):
        async def watch(message):
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.answered = True
            await send(message)

        await self.app(scope, receive, watch)

    async def run(self, request) -> list[str]:
        self.statements, self.answered = [], False
        transport = httpx.ASGITransport(app=self)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://roster.test",
            headers={"Origin": "http://roster.test"},
        ) as c:
            response = await request(c)
        assert response.status_code == 200, response.text
        return self.statements


async def test_reset_request_does_the_same_work_before_answering(app, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    await take_mail(services)
    recorder = Recorder(app, services)

    def ask(email):
        return lambda c: c.post("/graphql", json={"query": REQUEST, "variables": {"e": email}})

    known = await recorder.run(ask(member.email))
    assert [m["To"] for m in await take_mail(services)] == [member.email]  # sent, after
    unknown = await recorder.run(ask("nobody@example.com"))
    assert await take_mail(services) == []
    assert known == unknown
    assert not any("user_tokens" in s or "email_outbox" in s for s in known)


async def test_forgot_page_does_the_same_work_before_answering(app, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    await take_mail(services)
    recorder = Recorder(app, services)

    def ask(email):
        async def post(c):
            page = await c.get("/password/forgot")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            return await c.post("/password/forgot", data={"csrf": csrf, "email": email})

        return post

    known = await recorder.run(ask(member.email))
    assert [m["To"] for m in await take_mail(services)] == [member.email]
    unknown = await recorder.run(ask("nobody@example.com"))
    assert known == unknown


async def test_verification_resend_does_the_same_work_before_answering(app, services):
    """A login waiting for its confirmation got a token and an email inside the request; an
    unknown or confirmed address one look-up: the time told which addresses have logins
    waiting (made by whoever joined or signed up with them). Both now answer first."""
    from app.identity import service as identity

    tenant = await make_tenant(services)
    member = await make_member(services, tenant)  # confirmed
    async with services.db.session(write=True) as session:
        waiting = await identity.create_user(
            session, services.passwords, email="waiting@example.com", password=None,
            verified=False,
        )  # fmt: skip
        await session.commit()
    await take_mail(services)
    recorder = Recorder(app, services)
    resend = """mutation($e: String!) { emailVerificationResend(input: {email: $e}) { ok } }"""

    def ask(email):
        return lambda c: c.post("/graphql", json={"query": resend, "variables": {"e": email}})

    answered = [await recorder.run(ask(e)) for e in (waiting.email, member.email, "no@example.com")]
    assert [m["To"] for m in await take_mail(services)] == [waiting.email]  # sent, after
    assert answered[0] == answered[1] == answered[2]
    assert not any("user_tokens" in s or "email_outbox" in s for s in answered[0])
