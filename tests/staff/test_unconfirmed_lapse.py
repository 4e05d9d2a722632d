"""A membership waiting for its login to confirm its email (UNCONFIRMED) lapses as an
invitation does: it reserved a seat and held its address, and a stranger holding a join
link could otherwise keep both for good."""

from datetime import timedelta

from sqlalchemy import select, update

from app.background import sweep_once
from app.db.base import utcnow
from app.identity.models import UserToken, UserTokenPurpose
from app.staff.models import AccountStatus, Staff
from tests.factories import mail_token, make_tenant, take_mail

WAITED = timedelta(hours=48)
PASSWORD = "a good long password"

CREATE_LINK = """mutation { joinLinkCreate(input: {role: EDITOR}) { url userErrors { code } } }"""
JOIN = """mutation($input: JoinLinkJoinInput!) {
  joinLinkJoin(input: $input) { outcome emailVerificationRequired userErrors { code } } }"""
SEATS = "{ account { seats { used reserved } } }"
RECORD = """{
  staff(first: 100, filter: {accountStatuses: [ACTIVE, UNCONFIRMED, NOT_INVITED, INVITED]}) {
    edges { node { email accountStatus hasLogin firstName } } } }"""
INVITE = """mutation($email: String!) {
  invitationCreate(input: {email: $email, role: VIEWER}) {
    invitation { status } userErrors { code } } }"""
RESEND = """mutation($email: String!) { emailVerificationResend(input: {email: $email}) { ok } }"""
VERIFY = """mutation($t: String!) {
  emailVerify(input: {token: $t, password: "a good long password"}) { userErrors { code } } }"""
LOGIN = """mutation($email: String!) {
  login(input: {email: $email, password: "a good long password"}) {
    accounts { slug } userErrors { code } } }"""


async def joined(api, services, tenant, email: str) -> None:
    """``email`` joins ``tenant`` through a join link with a new login (UNCONFIRMED)."""
    made = (await api.data(CREATE_LINK, as_=tenant.owner))["joinLinkCreate"]
    token = made["url"].rsplit("/", 1)[1]
    variables = {
        "input": {
            "token": token,
            "email": email,
            "password": PASSWORD,
            "firstName": "Made",
            "lastName": "Up",
        }
    }
    answer = (await api.data(JOIN, variables))["joinLinkJoin"]
    assert answer == {"outcome": "JOINED", "emailVerificationRequired": True, "userErrors": []}


async def record(api, tenant, email: str) -> dict:
    data = await api.data(RECORD, as_=tenant.owner)
    [node] = [e["node"] for e in data["staff"]["edges"] if e["node"]["email"] == email]
    return node


async def seats(api, tenant) -> dict:
    return (await api.data(SEATS, as_=tenant.owner))["account"]["seats"]


async def age(services, email: str, *, waited: timedelta, link_expired: bool) -> None:
    """Behind the API's back: the record last changed ``waited`` ago; its login's
    confirmation links expired, or not."""
    now = utcnow()
    async with services.db.session(write=True) as session:
        staff = await session.scalar(select(Staff).where(Staff.email == email))
        staff.modified_at = now - waited
        if link_expired:
            await session.execute(
                update(UserToken)
                .where(
                    UserToken.user_id == staff.user_id,
                    UserToken.purpose == UserTokenPurpose.EMAIL_VERIFICATION,
                )
                .values(created_at=now - waited, expires_at=now - timedelta(minutes=1))
            )
        await session.commit()


async def test_an_unconfirmed_join_lapses_frees_its_seat_and_its_address(api, services):
    tenant = await make_tenant(services)
    before = await seats(api, tenant)
    await joined(api, services, tenant, "made.up@example.com")
    assert (await record(api, tenant, "made.up@example.com"))["accountStatus"] == "UNCONFIRMED"
    assert (await seats(api, tenant))["reserved"] == before["reserved"] + 1
    # the address is held: its owner cannot be invited
    held = (await api.data(INVITE, {"email": "made.up@example.com"}, as_=tenant.owner))
    assert held["invitationCreate"]["userErrors"] != []

    assert await sweep_once(services.db, WAITED) == 0  # just joined: it waits
    await age(services, "made.up@example.com", waited=WAITED + timedelta(minutes=5),
              link_expired=True)  # fmt: skip
    assert await sweep_once(services.db, WAITED) == 1
    assert await sweep_once(services.db, WAITED) == 0

    lapsed = await record(api, tenant, "made.up@example.com")
    assert lapsed == {
        "email": "made.up@example.com",
        "accountStatus": "NOT_INVITED",
        "hasLogin": False,
        "firstName": "Made",
    }
    assert await seats(api, tenant) == before
    invited = await api.data(INVITE, {"email": "made.up@example.com"}, as_=tenant.owner)
    assert invited["invitationCreate"] == {"invitation": {"status": "PENDING"}, "userErrors": []}

    # confirming the login later gives it no membership of the account
    await take_mail(services)
    assert (await api.data(RESEND, {"email": "made.up@example.com"}))["emailVerificationResend"]
    [verification] = [
        m for m in await take_mail(services) if m["X-Roster-Template"] == "email_verification"
    ]
    assert (await api.data(VERIFY, {"t": mail_token(verification)}))["emailVerify"][
        "userErrors"
    ] == []
    answer = (await api.data(LOGIN, {"email": "made.up@example.com"}))["login"]
    assert answer["accounts"] == []


async def test_a_join_waits_while_young_or_while_a_confirmation_link_lives(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    await joined(api, services, tenant, "young@example.com")
    await joined(api, services, tenant, "asked.again@example.com")
    await joined(api, services, other, "old@example.com")
    # changed recently, its link expired: it waits
    await age(services, "young@example.com", waited=WAITED - timedelta(hours=1), link_expired=True)
    # old, but its login holds a live link (asked for again): it waits
    await age(services, "asked.again@example.com", waited=WAITED * 3, link_expired=False)
    # old and without a live link, in another account: it lapses there alone
    await age(services, "old@example.com", waited=WAITED * 3, link_expired=True)

    assert await sweep_once(services.db, WAITED) == 1
    assert (await record(api, tenant, "young@example.com"))["accountStatus"] == "UNCONFIRMED"
    assert (await record(api, tenant, "asked.again@example.com"))[
        "accountStatus"
    ] == "UNCONFIRMED"
    assert (await record(api, other, "old@example.com"))["accountStatus"] == "NOT_INVITED"


async def test_a_join_confirmed_before_the_sweep_stays_active(api, services):
    tenant = await make_tenant(services)
    await take_mail(services)
    await joined(api, services, tenant, "quick@example.com")
    [verification] = [
        m for m in await take_mail(services) if m["X-Roster-Template"] == "email_verification"
    ]
    verified = await api.data(VERIFY, {"t": mail_token(verification)})
    assert verified["emailVerify"]["userErrors"] == []
    await age(services, "quick@example.com", waited=WAITED * 3, link_expired=True)
    assert await sweep_once(services.db, WAITED) == 0
    assert (await record(api, tenant, "quick@example.com"))["accountStatus"] == "ACTIVE"
    async with services.db.session() as session:
        staff = await session.scalar(select(Staff).where(Staff.email == "quick@example.com"))
        assert staff.account_status == AccountStatus.ACTIVE and staff.user_id is not None


async def test_new_links_keep_a_join_waiting_no_longer_than_an_invitation_lasts(api, services):
    """Asking for confirmation links again and again (anyone may, for any address) keeps a
    membership waiting only as long as the account's invitations last (7 days here)."""
    tenant = await make_tenant(services)
    await joined(api, services, tenant, "kept.alive@example.com")
    await age(services, "kept.alive@example.com", waited=timedelta(days=6, hours=23),
              link_expired=False)  # fmt: skip
    assert await sweep_once(services.db, WAITED) == 0
    await age(services, "kept.alive@example.com", waited=timedelta(days=7, minutes=1),
              link_expired=False)  # fmt: skip
    assert await sweep_once(services.db, WAITED) == 1
    assert (await record(api, tenant, "kept.alive@example.com"))["accountStatus"] == "NOT_INVITED"


async def test_a_join_waits_its_confirmation_link_out_where_invitations_last_a_day(
    api, services
):
    """An account whose invitations last one day still leaves a join its 48-hour link."""
    from app.accounts.models import Account
    from tests.factories import update_row

    tenant = await make_tenant(services)
    await update_row(services, Account, tenant.account_id, invitation_expiry_days=1)
    await joined(api, services, tenant, "one.day@example.com")
    await age(services, "one.day@example.com", waited=timedelta(hours=30), link_expired=False)
    assert await sweep_once(services.db, WAITED) == 0
    await age(services, "one.day@example.com", waited=timedelta(hours=49), link_expired=False)
    assert await sweep_once(services.db, WAITED) == 1


async def test_a_live_reset_link_keeps_a_join_waiting(api, services):
    """A password reset confirms the email, and the memberships waiting for it, as the
    verification link does: while one lives, the membership waits."""
    tenant = await make_tenant(services)
    await joined(api, services, tenant, "resetting@example.com")
    await age(services, "resetting@example.com", waited=WAITED * 2, link_expired=True)
    asked = await api.data(
        'mutation { passwordResetRequest(input: {email: "resetting@example.com"}) { ok } }'
    )
    assert asked["passwordResetRequest"]["ok"]
    assert await sweep_once(services.db, WAITED) == 0
    assert (await record(api, tenant, "resetting@example.com"))["accountStatus"] == "UNCONFIRMED"


async def test_memberships_that_keep_waiting_do_not_hide_those_due(api, services):
    """The oldest waiting records, kept by live links, come first in age but not in the
    sweep's batch: only those due are read."""
    from app.staff.membership import unconfirmed_due

    tenant = await make_tenant(services)
    await joined(api, services, tenant, "kept@example.com")
    await joined(api, services, tenant, "due@example.com")
    await age(services, "kept@example.com", waited=timedelta(days=5), link_expired=False)
    await age(services, "due@example.com", waited=timedelta(days=3), link_expired=True)
    async with services.db.session() as session:
        due = await unconfirmed_due(session, WAITED, limit=1)
        [staff_id] = due[tenant.account_id]
        staff = await session.get(Staff, staff_id)
        assert staff.email == "due@example.com"
