"""Self sign-up into an account (seed 003: "users can also create their own accounts on
your OS"): where the account allows it (``Account.self_signup``), anyone may sign up on its
sign-up page or with ``accountSignup`` and becomes a customer, a guest. It is a join
through the account's open door: a join link that is never stored, gives the CUSTOMER kind
and the GUEST role, needs no approval and has no limit of uses. So everything a join link
does holds here too: a newcomer is UNCONFIRMED (a seat reserved, if guests take seats)
until they confirm their email; an address that already has a login gets a newcomer's
answer unless signed in as it or giving its password, and its owner is emailed instead;
every attempt counts against sign-up's own per-address limit and the login limits.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Role
from app.accounts.models import Account
from app.accounts.queries import account_by_realm
from app.identity.credentials import PasswordGate
from app.identity.service import Principal
from app.invitations.errors import SignupClosed
from app.invitations.join_links import JoinResult, join_through
from app.invitations.models import JoinLink
from app.security.passwords import PasswordService
from app.staff.models import StaffKind

MAX_REALM = 63


async def count_signup(session: AsyncSession, limiter, address: str | None) -> None:
    """Every sign-up (into a new account or an existing one) counts against one
    per-address limit, before anything is looked at."""
    await limiter.hit(session, "signup_address", address)


async def open_account(session: AsyncSession, realm: str) -> Account:
    """The account ``realm`` names, if it takes sign-ups (else SignupClosed)."""
    account = (
        await session.scalar(account_by_realm(realm)) if realm and len(realm) <= MAX_REALM else None
    )
    if account is None or not account.self_signup:
        raise SignupClosed()
    return account


async def sign_up(
    session: AsyncSession,
    passwords: PasswordService,
    settings,
    *,
    realm: str,
    email: str,
    password: str | None,
    first_name: str,
    last_name: str,
    principal: Principal | None,
    gate: PasswordGate,
) -> JoinResult:
    account = await open_account(session, realm)
    door = JoinLink(
        account_id=account.id,
        role=Role.GUEST,
        kind=StaffKind.CUSTOMER,
        requires_approval=False,
        allowed_domains=[],
        max_uses=None,
        uses=0,
    )
    return await join_through(
        session,
        passwords,
        settings,
        door,
        email=email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        principal=principal,
        gate=gate,
    )
