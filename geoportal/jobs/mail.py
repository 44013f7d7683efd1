"""Outgoing mail: a message, sent by SMTP (standard library, in a thread) with timeouts.

A failure that may pass (server down, refused connection, 4xx reply, timeout) raises
``RetryLater`` with a wait that doubles at each attempt, and the job is tried again then; a
permanent refusal (5xx) fails the job. The Message-ID is fixed when the mail is queued, so a
receiving server can tell a repeat from a new message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import smtplib
import ssl
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Any, Literal

from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.jobs import Job

from geoportal.settings import Settings

MAIL_DOMAIN = "geoportal.invalid"  # right-hand side of Message-IDs


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how mail is sent (the ``GEOPORTAL_SMTP_*`` settings)."""

    host: str
    port: int
    sender: str
    tls: Literal["starttls", "ssl", "none"]
    timeout_s: float
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig | None:
        """The configuration, or None when no SMTP host is set (mail then waits)."""
        if not settings.smtp_host:
            return None
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return cls(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_sender,
                   tls=settings.smtp_tls, timeout_s=settings.smtp_timeout_s,
                   user=settings.smtp_user, password=password)


@dataclass(frozen=True)
class Mail:
    """One plain-text message to one recipient."""

    to: str
    subject: str
    text: str
    message_id: str

    @classmethod
    def new(cls, to: str, subject: str, text: str) -> Mail:
        """A message with a fresh Message-ID."""
        return cls(to=to, subject=subject, text=text,
                   message_id=email.utils.make_msgid("geoportal", domain=MAIL_DOMAIN))

    def as_args(self) -> dict[str, str]:
        """The job arguments that carry it (JSON)."""
        return asdict(self)

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> Mail:
        """The message a job carries."""
        return cls(to=str(args["to"]), subject=str(args["subject"]), text=str(args["text"]),
                   message_id=str(args["message_id"]))


def compose(mail: Mail, sender: str) -> EmailMessage:
    """The MIME message (UTF-8 text, automatic-reply headers)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Message-ID"] = mail.message_id
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text, charset="utf-8")
    return message


def send_now(config: SmtpConfig, mail: Mail) -> None:
    """Send one message, blocking (call it from a thread)."""
    message = compose(mail, config.sender)
    server: smtplib.SMTP
    if config.tls == "ssl":
        server = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_s,
                                  context=ssl.create_default_context())
    else:
        server = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
    with server:
        if config.tls == "starttls":
            server.starttls(context=ssl.create_default_context())
        if config.user:
            server.login(config.user, config.password or "")
        server.send_message(message)


class RetryLater(Exception):
    """The mail could not be sent now; try again in ``wait_s`` seconds."""

    def __init__(self, reason: str, wait_s: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait_s = wait_s


def is_transient(exc: BaseException) -> bool:
    """Whether sending may succeed later (outage, timeout, 4xx) rather than never (5xx)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, OSError | smtplib.SMTPServerDisconnected | TimeoutError)


def backoff_s(attempts: int, first_s: float, longest_s: float) -> float:
    """The wait before attempt ``attempts + 1``: doubling from ``first_s`` up to ``longest_s``."""
    return float(min(first_s * 2 ** min(attempts, 32), longest_s))


async def deliver(config: SmtpConfig | None, mail: Mail, attempts: int, first_s: float,
                  longest_s: float) -> None:
    """Send ``mail`` now, or raise ``RetryLater`` (transient failure, or no SMTP host yet)."""
    wait = backoff_s(attempts, first_s, longest_s)
    if config is None:
        raise RetryLater("no SMTP host configured", longest_s)
    try:
        await asyncio.to_thread(send_now, config, mail)
    except Exception as exc:
        if is_transient(exc):
            raise RetryLater(f"{type(exc).__name__}", wait) from exc
        raise


class RetryWhenAsked(BaseRetryStrategy):
    """Retry exactly when the job raised ``RetryLater``, after the wait it gives."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        """The retry a ``RetryLater`` asks for; nothing for any other failure."""
        if isinstance(exception, RetryLater):
            return RetryDecision(retry_at=dt.datetime.now(dt.UTC)
                                 + dt.timedelta(seconds=exception.wait_s))
        return None
