"""Where email goes: SMTP, the console (development), files, or memory (tests)."""

from __future__ import annotations

import asyncio
import re
import sys
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import aiosmtplib

from app.email.outbox import Outgoing


def build_message(message: Outgoing, sender: str) -> EmailMessage:
    """A multipart/alternative message. BCC recipients get it without a Bcc header."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = ", ".join(message.to_addrs)
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    # A stable id per outbox row lets receivers drop a duplicate after a crash mid-send.
    # (make_msgid adds the time and a random number, so it would differ on every attempt.)
    stamp = message.created_at.strftime("%Y%m%d%H%M%S%f") if message.created_at else "0"
    email["Message-ID"] = f"<roster-outbox-{message.id}.{stamp}@roster>"
    email["X-Roster-Template"] = message.template
    email.set_content(message.text_body)
    email.add_alternative(message.html_body, subtype="html")
    return email


def recipients(message: Outgoing) -> list[str]:
    return list(message.to_addrs) + list(message.bcc_addrs or [])


class Undeliverable(Exception):
    """The mail server refused this message for good: its recipient's address or mailbox,
    or its content. Sent again, it would be refused again, so the relay fails it at once
    (app.email.relay). Refusals of the server's own setup are not this: authentication,
    the sender, TLS, and policy ("relay access denied", "send as denied", 5.7.x) are
    retried, as they last only until the setup is fixed, and so is every passing state."""


# RFC 3463's enhanced status classes of a permanent failure that is the message's own:
# addressing (5.1.x: no such user), mailbox (5.2.x: disabled, full for good) and media
# or content (5.6.x). A 5xx reply without one says too little to give a message up.
_THE_MESSAGES_OWN = re.compile(r"^\s*5\.[126]\.\d{1,3}\b")


def _permanent(code: int, message: str) -> bool:
    return 500 <= code < 600 and bool(_THE_MESSAGES_OWN.match(message or ""))


def refused_for_good(error: Exception) -> bool:
    """Whether ``error`` is a refusal of this message itself (``Undeliverable``), not of
    the connection, the server's setup or a passing state."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return bool(error.recipients) and all(
            _permanent(r.code, r.message) for r in error.recipients
        )
    if isinstance(error, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return _permanent(error.code, error.message)
    return False


class Sender:
    async def send(self, message: Outgoing) -> None:
        raise NotImplementedError


class SmtpSender(Sender):
    def __init__(self, settings):
        self.settings = settings

    async def send(self, message: Outgoing) -> None:
        s = self.settings
        try:
            await aiosmtplib.send(
                build_message(message, s.email_from),
                recipients=recipients(message),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password,
                use_tls=s.smtp_tls,
                start_tls=False if s.smtp_tls else s.smtp_starttls,
                cert_bundle=s.smtp_ca_file,
                timeout=s.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPException as exc:
            if refused_for_good(exc):
                raise Undeliverable(str(exc)) from exc
            raise


class ConsoleSender(Sender):
    """Development: prints each message with its links, ready to click."""

    def __init__(self, settings, stream=None):
        self.settings = settings
        self.stream = stream or sys.stdout

    async def send(self, message: Outgoing) -> None:
        line = "-" * 72
        self.stream.write(
            f"{line}\nTo: {', '.join(recipients(message))}\nSubject: {message.subject}\n\n"
            f"{message.text_body}\n{line}\n"
        )
        self.stream.flush()


class FileSender(Sender):
    """Writes each message as an .eml file into ROSTER_EMAIL_FILE_DIR."""

    def __init__(self, settings):
        self.settings = settings
        self.directory = Path(settings.email_file_dir)

    async def send(self, message: Outgoing) -> None:
        data = bytes(build_message(message, self.settings.email_from))
        path = self.directory / f"{message.id:08d}-{message.template}.eml"

        def write() -> None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        await asyncio.to_thread(write)


class MemorySender(Sender):
    """Tests: keeps what was sent, in this process."""

    def __init__(self, settings=None):
        self.settings = settings
        self.sent: list[EmailMessage] = []

    async def send(self, message: Outgoing) -> None:
        self.sent.append(build_message(message, "roster@test"))


def sender_for(settings) -> Sender:
    return {
        "smtp": SmtpSender,
        "console": ConsoleSender,
        "file": FileSender,
        "memory": MemorySender,
    }[settings.email_backend](settings)
