"""``roster serve --demo``: an account with sample staff, a manager tree and custom fields."""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import select

from app.access import Actor, Role
from app.accounts.models import Account
from app.accounts.service import create_account
from app.custom_fields import service as custom_fields
from app.custom_fields.models import CustomField, CustomFieldType
from app.db.engine import Database
from app.identity import service as identity
from app.identity.models import TokenKind, User
from app.identity.service import Principal
from app.security.passwords import PasswordService
from app.settings import Settings
from app.staff import service as staff_service
from app.staff.models import AccountStatus, Staff, StaffStatus

DEMO_SLUG = "demo"
DEMO_PASSWORD = "demo-password-2024"
DEMO_LOGINS = {
    "owner@demo.example": Role.OWNER,
    "admin@demo.example": Role.ADMINISTRATOR,
    "editor@demo.example": Role.EDITOR,
    "viewer@demo.example": Role.VIEWER,
    "customer@demo.example": Role.GUEST,
}
FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Dennis",
    "Radia",
    "Linus",
    "Katherine",
    "John",
    "Hedy",
    "Tim",
    "Sophie",
    "Guido",
    "Anita",
    "Bjarne",
    "Carol",
    "Niklaus",
    "Shafi",
    "Leslie",
    "Jean",
    "Vint",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Perlman",
    "Torvalds",
    "Johnson",
    "McCarthy",
    "Lamarr",
    "Berners-Lee",
    "Wilson",
    "van Rossum",
    "Borg",
    "Stroustrup",
    "Shaw",
    "Wirth",
    "Goldwasser",
    "Lamport",
    "Sammet",
    "Cerf",
]
TITLES = ["Engineer", "Senior Engineer", "Designer", "Product Manager", "Analyst", "Consultant"]
ZONES = ["Europe/London", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "America/Chicago"]


def _howto(settings: Settings) -> str:
    lines = [
        f"Demo account ready: realm 'demo'. Log in with any of these (password {DEMO_PASSWORD!r}):",
        *(f"  {email:<22} {role.value}" for email, role in DEMO_LOGINS.items()),
        '  mutation { login(input: {email: "admin@demo.example", password: '
        f'"{DEMO_PASSWORD}"}}) {{ token }} }}',
        "Then send 'Authorization: Bearer <token>' and 'X-Auth-Realm: demo'.",
    ]
    return "\n".join(lines)


async def seed_demo(settings: Settings) -> str:
    """Idempotent: an existing demo account is left as it is."""
    db = Database(settings.database_url)
    passwords = PasswordService.from_settings(settings)
    try:
        async with db.session(write=True) as session:
            if await session.scalar(select(Account.id).where(Account.slug == DEMO_SLUG)):
                return _howto(settings)
            users = await _demo_logins(session, passwords)
            actor, owner_staff = await _demo_account(session, users["owner@demo.example"])
            catalogue = await _demo_catalogue(session, actor)
            await _demo_staff(session, settings, actor, owner_staff, users, catalogue)
            await _demo_guest(session, settings, actor, users["customer@demo.example"])
            await session.flush()
            await session.commit()
        return _howto(settings)
    finally:
        await db.dispose()
        passwords.shutdown()


async def _demo_logins(session, passwords: PasswordService) -> dict[str, User]:
    """The demo's logins, made if they do not exist yet."""
    users = {}
    for email in DEMO_LOGINS:
        users[email] = await identity.get_user_by_email(session, email) or (
            await identity.create_user(
                session, passwords, email=email, password=DEMO_PASSWORD, verified=True
            )
        )
    return users


async def _demo_account(session, owner: User) -> tuple[Actor, Staff]:
    """The demo account, and its owner as the actor that fills it."""
    account, owner_staff = await create_account(
        session,
        name="Acme Demo",
        owner=owner,
        slug=DEMO_SLUG,
        seat_limit=25,
        owner_first_name="Olivia",
        owner_last_name="Owner",
    )
    actor = await identity.build_actor(
        session, Principal(owner.id, 0, TokenKind.SESSION, None), account, owner_staff
    )
    return actor, owner_staff


@dataclass(frozen=True)
class _Catalogue:
    on_leave: StaffStatus
    shirt: CustomField
    cert: CustomField
    contact: CustomField


async def _demo_catalogue(session, actor: Actor) -> _Catalogue:
    """The account's statuses and custom fields."""
    on_leave = await staff_service.create_status(session, actor, "On leave")
    await staff_service.create_status(session, actor, "Terminated")
    shirt = await custom_fields.create_field(
        session,
        actor,
        name="T-shirt size",
        type=CustomFieldType.CHOICE,
        options=["S", "M", "L", "XL"],
    )
    cert = await custom_fields.create_field(
        session, actor, name="Certification", type=CustomFieldType.TEXT
    )
    contact = await custom_fields.create_field(
        session,
        actor,
        name="Emergency contact",
        type=CustomFieldType.TEXT,
        personal=True,
    )
    return _Catalogue(on_leave, shirt, cert, contact)


_DEMO_MEMBERS = {
    "admin@demo.example": ("Adam", "Admin", Role.ADMINISTRATOR),
    "editor@demo.example": ("Edith", "Editor", Role.EDITOR),
    "viewer@demo.example": ("Victor", "Viewer", Role.VIEWER),
}


async def _demo_guest(session, settings: Settings, actor: Actor, user: User) -> None:
    """A customer who logs in (a guest), on one project with three of the staff: all
    they see of the account is themselves and those people's names and titles."""
    from app.projects import service as projects

    guest = await staff_service.create_staff(
        session,
        actor,
        settings.keyring,
        {
            "first_name": "Casey",
            "last_name": "Customer",
            "email": user.email,
            "kind": "CUSTOMER",
            "company": "Globex",
            "title": "Buyer",
        },
    )
    guest.user_id = user.id
    guest.account_status = AccountStatus.ACTIVE
    team = list(
        await session.scalars(
            select(Staff.id).where(Staff.account_id == actor.account_id).order_by(Staff.sid)
        )
    )
    await projects.create_project(
        session,
        actor,
        name="Globex rollout",
        description="Globex sees the people on this project.",
        member_ids=[guest.id, *team[3:6]],
    )


def _demo_person(index: int, rng: random.Random, managers: list[Staff]) -> dict:
    """The record of the demo's ``index``-th person (the first three have logins)."""
    if index < 3:
        email = list(_DEMO_MEMBERS)[index]
        first, last, role = _DEMO_MEMBERS[email]
    else:
        first, last, role = FIRST[index % 26], LAST[(index * 7) % 26], Role.VIEWER
        email = f"{first}.{last}{index}".lower().replace(" ", "") + "@demo.example"
    return {
        "first_name": first,
        "last_name": last,
        "email": email,
        "role": role,
        "title": rng.choice(TITLES),
        "company": "Acme",
        "manager_id": rng.choice(managers).id,
        "phone_cell": f"+1 555 01{index:02d}",
        "address": {
            "street": f"{index + 1} Main Street",
            "city": "Springfield",
            "country": "US",
        },
        "home_timezone": rng.choice(ZONES),
        "rate1": 100 + 5 * index,
        "ssn": f"123-45-{6000 + index}",
        "salary": 60000 + 1000 * index,
        "restricted": index % 9 == 8,
    }


async def _demo_staff(
    session, settings: Settings, actor: Actor, owner_staff: Staff, users, catalogue: _Catalogue
) -> None:
    """Thirty people (the same ones every time: a seeded random), with custom values."""
    rng = random.Random(7)
    managers: list[Staff] = [owner_staff]
    for index in range(30):
        data = _demo_person(index, rng, managers)
        if index == 5:
            data["status_id"] = catalogue.on_leave.id
        staff = await staff_service.create_staff(session, actor, settings.keyring, data)
        if index < 3:
            staff.user_id = users[data["email"]].id
            staff.account_status = AccountStatus.ACTIVE
        if index < 8:
            managers.append(staff)
        await custom_fields.set_values(
            session,
            actor,
            staff.id,
            [
                (catalogue.shirt.id, rng.choice(["S", "M", "L", "XL"])),
                (catalogue.cert.id, rng.choice(["PMP", "AWS", None])),
                (catalogue.contact.id, f"Call {rng.choice(FIRST)} at +1 555 0199"),
            ],
        )
