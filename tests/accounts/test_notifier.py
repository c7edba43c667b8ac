"""Customer notices: chosen by NOTIFIER, sent as a log line, a JSON POST or an email."""

from __future__ import annotations

import asyncio
import json
import socket
import socketserver
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email import message_from_string
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from asgi_lifespan import LifespanManager

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.accounts.service import change_state
from licensing_api.db import session_scope
from licensing_api.main import create_app
from licensing_api.accounts.notifier import (
    AccountNotice,
    LogNotifier,
    NoticeKind,
    SmtpNotifier,
    WebhookNotifier,
    create_notifier,
    deliver_notice,
)
from licensing_api.settings import SettingsError, load_settings
from tests.webhooks.builders import customer_row, linked_customer

NOTICE = AccountNotice(NoticeKind.PAYMENT_FAILED, uuid.uuid4(), "crawler@example.com",
                       "payment_failed", datetime(2026, 12, 3, tzinfo=UTC))


@contextmanager
def json_receiver(failures: int = 0) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A notice endpoint; answers 503 to the first `failures` posts (those are not kept)."""
    received: list[dict[str, Any]] = []
    refused = [failures]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if refused[0] > 0:
                refused[0] -= 1
                self.send_response(503)
            else:
                received.append(body)
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/notices", received
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def smtp_receiver() -> Iterator[tuple[str, list[str]]]:
    """Just enough SMTP to accept one message: greets, says 250, collects DATA."""
    messages: list[str] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 test ESMTP\r\n")
            while line := self.rfile.readline():
                verb = line.decode().strip().split(" ")[0].upper()
                if verb == "DATA":
                    self.wfile.write(b"354 go on\r\n")
                    body = []
                    while (data := self.rfile.readline()) not in (b".\r\n", b""):
                        body.append(data.decode())
                    messages.append("".join(body))
                    self.wfile.write(b"250 queued\r\n")
                elif verb == "QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 ok\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"smtp://127.0.0.1:{server.server_address[1]}", messages
    finally:
        server.shutdown()
        server.server_close()


def test_notifier_is_chosen_by_setting(settings):
    assert isinstance(create_notifier(settings), LogNotifier)
    webhook = settings.model_copy(update={"notifier": "webhook",
                                          "notifier_webhook_url": "http://127.0.0.1:9/n"})
    assert isinstance(create_notifier(webhook), WebhookNotifier)


async def test_webhook_notifier_posts_the_notice_as_json():
    with json_receiver() as (url, received):
        assert await deliver_notice(WebhookNotifier(url), NOTICE)
    assert received[0]["kind"] == "payment_failed"
    assert received[0]["email"] == "crawler@example.com"
    assert received[0]["grace_until"] == "2026-12-03T00:00:00+00:00"


async def test_smtp_notifier_emails_the_customer_with_the_grace_deadline():
    with smtp_receiver() as (url, messages):
        assert await deliver_notice(SmtpNotifier(url, "billing@publisher.example"), NOTICE)
    email = message_from_string(messages[0], policy=default)
    assert email["To"] == "crawler@example.com"
    assert "until 2026-12-03 00:00 UTC" in email.get_content()


async def test_unreachable_notifier_is_logged_and_reported_not_raised(caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    with caplog.at_level("WARNING", logger="licensing_api.accounts.notifier"):
        assert not await deliver_notice(WebhookNotifier(f"http://127.0.0.1:{port}/"), NOTICE)
    assert any(r.getMessage() == "account_notice_failed" for r in caplog.records)


@pytest.mark.parametrize("overrides, message", [
    ({"notifier": "smtp"}, "invalid setting NOTIFIER: NOTIFIER=smtp needs SMTP_URL"),
    ({"notifier": "webhook"}, "invalid setting NOTIFIER: NOTIFIER=webhook needs NOTIFIER_WEBHOOK_URL"),
    ({"smtp_url": "mail.example:25"}, "invalid setting SMTP_URL: use smtp://"),
    ({"refund_action": "refund"}, "invalid setting REFUND_ACTION: Input should be 'revoke' or 'suspend'"),
])
def test_bad_notifier_or_action_settings_stop_start_up_with_one_line(overrides, message):
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None, **overrides)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


async def test_a_notice_that_fails_after_the_commit_is_sent_again(settings):
    """The state change stands at once; the notice arrives on a later attempt."""
    with json_receiver(failures=1) as (url, received):
        app = create_app(settings.model_copy(update={"notifier": "webhook", "notifier_webhook_url": url}))
        async with LifespanManager(app) as manager:
            resources = manager._state["resources"]
            customer = await linked_customer(resources)
            async with session_scope(resources.sessionmaker) as session:
                row = await session.get(Customer, customer.id)
                await change_state(session, resources, row, AccountState.SUSPENDED,
                                   reason="test", source="test")
            assert (await customer_row(resources, customer.id)).state == AccountState.SUSPENDED
            assert received == []
            for _ in range(100):  # the first retry comes half a second later
                if received:
                    break
                await asyncio.sleep(0.05)
    assert [(n["kind"], n["customer_id"]) for n in received] == [("suspended", str(customer.id))]
