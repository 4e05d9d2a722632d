"""Over a real SMTP server (aiosmtpd): each envelope holding a secret link has its owner as
the only recipient; the sender's requested copy is its own envelope, without the link."""

from __future__ import annotations

import re

import pytest

from tests.conftest import make_settings
from tests.factories import SmtpSink, make_tenant

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { field code } }
}"""
REGISTER = """mutation($input: StaffRegisterInput!) {
  staffRegister(input: $input) { staff { id } userErrors { field code } }
}"""


@pytest.fixture
def smtp():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def settings(database_url, smtp):
    return make_settings(database_url, email_backend="smtp", smtp_port=smtp.port)


async def test_smtp_envelopes_keep_links_with_their_owners(api, services, smtp):
    tenant = await make_tenant(services)
    await api.data(
        INVITE, {"input": {"email": "inv@example.com", "bccSender": True}}, as_=tenant.owner
    )
    await api.data(
        REGISTER,
        {
            "input": {
                "firstName": "Cy",
                "lastName": "New",
                "email": "cy@example.com",
                "welcome": {"bccSender": True},
            }
        },
        as_=tenant.owner,
    )
    while await services.relay.run_once():
        pass
    envelopes = sorted(((tuple(e.rcpt_tos), e) for e in smtp.envelopes), key=lambda p: p[0])
    assert [r for r, _ in envelopes] == sorted(
        [("inv@example.com",), ("cy@example.com",), (tenant.owner.email,), (tenant.owner.email,)]
    )
    for rcpt, envelope in envelopes:
        content = envelope.content.decode()
        has_link = re.search(r"token=", content) is not None
        assert has_link == (rcpt != (tenant.owner.email,)), (rcpt, content)
