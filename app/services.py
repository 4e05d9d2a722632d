"""The process-wide collaborators that the adapters (GraphQL, web pages, CLI) share."""

from __future__ import annotations

from dataclasses import dataclass

from app.db.engine import Database
from app.email.relay import Relay
from app.email.senders import Sender, sender_for
from app.identity.credentials import PasswordGate, TokenGate
from app.offload import Offload
from app.security.export_slots import ExportSlots
from app.security.passwords import PasswordService
from app.security.rate_limits import RateLimiter
from app.settings import Settings
from app.webhooks.delivery import Deliverer


@dataclass
class Services:
    """Process-wide collaborators, built once per app."""

    settings: Settings
    db: Database
    passwords: PasswordService
    sender: Sender
    relay: Relay
    limiter: RateLimiter
    offload: Offload
    webhooks: Deliverer
    exports: ExportSlots

    @classmethod
    def from_settings(cls, settings: Settings, *, db: Database | None = None) -> Services:
        """``db``: a Database to serve from instead of a new one, for a process that
        starts many apps on one database (the test suite): SQLAlchemy compiles each
        statement once per engine, and keeps it as long as the engine lives. ``close``
        still closes its connections."""
        if db is not None and db.url != settings.database_url:
            raise ValueError("the Database given is not the one the settings name")
        db = db or Database(
            settings.database_url,
            echo=settings.database_echo,
            pre_ping=settings.database_pre_ping,
        )
        sender = sender_for(settings)
        return cls(
            settings=settings,
            db=db,
            passwords=PasswordService.from_settings(settings),
            sender=sender,
            limiter=RateLimiter(settings.secret_key, settings.rate_limits),
            offload=Offload(settings.keyring, settings.export_workers),
            relay=Relay(
                db,
                sender,
                keyring=settings.keyring,
                max_attempts=settings.email_max_attempts,
                backoff_seconds=settings.email_backoff_seconds,
                lease_seconds=settings.email_lease_seconds,
            ),
            webhooks=Deliverer.from_settings(db, settings),
            exports=ExportSlots(
                at_once=settings.exports_at_once, seconds=settings.export_seconds
            ),
        )

    def password_gate(self, address: str | None) -> PasswordGate:
        """The only way to check a password: counted against the login limits."""
        return PasswordGate(self.passwords, self.limiter, address)

    def token_gate(self, address: str | None) -> TokenGate:
        """The only way to look at an emailed link's token: counted per client address."""
        return TokenGate(self.limiter, address)

    async def close(self) -> None:
        await self.db.dispose()
        self.passwords.shutdown()
        self.offload.shutdown()
