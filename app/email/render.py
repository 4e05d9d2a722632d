"""Email templates: a subject line, a plain-text part and an HTML part per message kind."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"

SUBJECTS = {
    "invitation": "{inviter} invited you to {account} on Roster",
    "invitation_resent": "Reminder: {inviter} invited you to {account} on Roster",
    "welcome": "Welcome to {account} on Roster",
    "email_verification": "Confirm your email address for Roster",
    "email_change": "Confirm your new email address for {account} on Roster",
    "password_reset": "Reset your Roster password",
    "password_changed": "Your Roster password was changed",
    "join_request": "{person} asks to join {account} on Roster",
    "account_exists": "You already have a Roster account",
    "join_existing": "Sign in to join {account} on Roster",
    "join_record": "Your place at {account} on Roster",
    "invitation_copy": "Copy: you invited {email} to {account} on Roster",
    "welcome_copy": "Copy: you added {email} to {account} on Roster",
}

# Messages meant for their addressee alone: they carry (or may carry) a link that accepts an
# invitation, sets a password or signs in. The outbox never copies them to anyone else; a
# sender who asked for a copy gets a separate notice (the *_copy templates) instead.
PRIVATE_TEMPLATES = frozenset(
    {
        "invitation",
        "invitation_resent",
        "welcome",
        "email_verification",
        "email_change",
        "password_reset",
    }
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, context: dict, subject: str | None = None) -> Rendered:
    """``subject`` overrides the default subject line (welcome and invitation options)."""
    env = _env()
    line = subject or SUBJECTS[template].format(
        **{k: v for k, v in context.items() if isinstance(v, str)}
    )
    line = " ".join(line.split())[:300]
    return Rendered(
        subject=line,
        text=env.get_template(f"{template}.txt").render(**context),
        html=env.get_template(f"{template}.html").render(**context),
    )
