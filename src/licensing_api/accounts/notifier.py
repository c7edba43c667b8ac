"""Customer notices about account state (payment failed, suspended, reactivated, revoked) and
spend (a budget threshold reached, `budgets/notices.py`).

`create_notifier(settings)` picks the channel by `NOTIFIER`: `log` (a structured log line,
the default), `webhook` (a JSON POST to `NOTIFIER_WEBHOOK_URL`, e.g. a mail service or
Slack bridge) or `smtp` (an email through `SMTP_URL`). Notices are sent after the state
change commits; a failed notice is logged, never undoes the change, and is sent again later
(`notice_sender` raises, so the unit of work's after-commit retries take it).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import smtplib
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import httpx

from licensing_api.settings import Settings

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 5.0


class NoticeKind(enum.StrEnum):
    PAYMENT_FAILED = "payment_failed"
    SUSPENDED = "suspended"
    REACTIVATED = "reactivated"
    REVOKED = "revoked"
    BUDGET_THRESHOLD = "budget_threshold"


@dataclass(frozen=True, slots=True)
class AccountNotice:
    kind: NoticeKind
    customer_id: uuid.UUID
    email: str
    reason: str
    grace_until: datetime | None = None
    details: dict[str, Any] | None = None  # kind-specific fields, also in the JSON body

    def subject(self) -> str:
        if self.kind is NoticeKind.BUDGET_THRESHOLD and self.details:
            return f"Your spend reached {self.details['threshold']}% of your budget"
        return {
            NoticeKind.PAYMENT_FAILED: "Your payment failed: please update your card",
            NoticeKind.SUSPENDED: "Your content license is suspended for non-payment",
            NoticeKind.REACTIVATED: "Your content license is active again",
            NoticeKind.REVOKED: "Your content license has been revoked",
        }[self.kind]

    def text(self) -> str:
        if self.kind is NoticeKind.PAYMENT_FAILED:
            deadline = self.grace_until.strftime("%Y-%m-%d %H:%M UTC") if self.grace_until else "soon"
            return (
                "We could not collect your latest payment. Your API keys keep working until "
                f"{deadline}; pay the open invoice before then to avoid a suspension."
            )
        if self.kind is NoticeKind.SUSPENDED:
            return "Your API keys answer 402 until the open invoice is paid."
        if self.kind is NoticeKind.REACTIVATED:
            return "Thank you: your payment arrived and your API keys work again."
        if self.kind is NoticeKind.BUDGET_THRESHOLD and self.details:
            stop = (" With the hard stop on, requests that would take it past the budget are "
                    "refused until the period ends." if self.details.get("hard_stop") else "")
            return (
                f"This period's estimated bill is {self.details['amount_display']}, "
                f"{self.details['threshold']}% or more of your budget of {self.details['budget_display']} "
                f"(the period ends {self.details['period_end']}).{stop}"
            )
        return f"Your API keys no longer work ({self.reason})."

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "customer_id": str(self.customer_id),
            "email": self.email,
            "reason": self.reason,
            "grace_until": self.grace_until.isoformat() if self.grace_until else None,
            "subject": self.subject(),
            "text": self.text(),
            **(self.details or {}),
        }


class Notifier(Protocol):
    async def send(self, notice: AccountNotice) -> None: ...


class LogNotifier:
    """Writes each notice as a structured log line (no email address: logs are not mail)."""

    async def send(self, notice: AccountNotice) -> None:
        logger.info(
            "account_notice",
            extra={
                "notice": str(notice.kind),
                "customer_id": str(notice.customer_id),
                "grace_until": notice.grace_until.isoformat() if notice.grace_until else None,
            },
        )


class WebhookNotifier:
    """POSTs each notice as JSON to an operator-chosen URL."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def send(self, notice: AccountNotice) -> None:
        async with httpx.AsyncClient(timeout=SEND_TIMEOUT_SECONDS) as http:
            response = await http.post(self.url, json=notice.as_json())
            response.raise_for_status()


class SmtpNotifier:
    """Emails each notice; smtplib runs in a thread so the event loop never blocks."""

    def __init__(self, smtp_url: str, from_email: str) -> None:
        parts = urlsplit(smtp_url)
        self.use_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.use_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.from_email = from_email

    def message(self, notice: AccountNotice) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.from_email
        message["To"] = notice.email
        message["Subject"] = notice.subject()
        message.set_content(notice.text())
        return message

    async def send(self, notice: AccountNotice) -> None:
        await asyncio.to_thread(self._send_blocking, self.message(notice))

    def _send_blocking(self, message: EmailMessage) -> None:
        smtp_class = smtplib.SMTP_SSL if self.use_tls else smtplib.SMTP
        with smtp_class(self.host, self.port, timeout=SEND_TIMEOUT_SECONDS) as smtp:
            if not self.use_tls and self.username:
                smtp.starttls()
            if self.username and self.password:
                smtp.login(self.username, self.password)
            smtp.send_message(message)


def create_notifier(settings: Settings) -> Notifier:
    if settings.notifier == "webhook" and settings.notifier_webhook_url:
        return WebhookNotifier(settings.notifier_webhook_url)
    if settings.notifier == "smtp" and settings.smtp_url is not None:
        return SmtpNotifier(settings.smtp_url.get_secret_value(), settings.notifier_from_email)
    return LogNotifier()


async def deliver_notice(notifier: Notifier, notice: AccountNotice) -> bool:
    """Send one notice; a failure is logged (the state change stands) and reported as False."""
    try:
        await asyncio.wait_for(notifier.send(notice), SEND_TIMEOUT_SECONDS * 2)
    except (httpx.HTTPError, OSError, smtplib.SMTPException, TimeoutError) as exc:
        logger.warning(
            "account_notice_failed",
            extra={"notice": str(notice.kind), "customer_id": str(notice.customer_id),
                   "error": type(exc).__name__},
        )
        return False
    return True


class NoticeNotDelivered(Exception):
    """The notice channel failed; the after-commit retries send it again."""


def notice_sender(notifier: Notifier, notice: AccountNotice) -> Callable[[], Awaitable[None]]:
    """After-commit work that sends `notice`, raising when it could not be delivered."""

    async def send() -> None:
        if not await deliver_notice(notifier, notice):
            raise NoticeNotDelivered(f"{notice.kind} notice for {notice.customer_id}")

    return send
