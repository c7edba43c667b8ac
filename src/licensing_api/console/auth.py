"""Typed dependencies of console routes: on/off (ADMIN_TOKEN), the signed-in session, CSRF."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from licensing_api.console.sessions import SESSION_COOKIE, ConsoleCodec, ConsoleSession
from licensing_api.dependencies import SettingsDep
from licensing_api.errors import NotFound, ProblemError


class ConsoleOff(NotFound):
    slug, title = "console-off", "Operator console is off"


class ConsoleCsrfRejected(ProblemError):
    status, slug, title = 403, "csrf-rejected", "Form expired"


def get_codec(request: Request) -> ConsoleCodec:
    return request.app.state.console_sessions  # type: ignore[no-any-return]


CodecDep = Annotated[ConsoleCodec, Depends(get_codec)]


def require_console_on(settings: SettingsDep) -> str:
    """The admin token; without one the console does not exist (as the admin API)."""
    if settings.admin_token is None:
        raise ConsoleOff("the operator console is off; set ADMIN_TOKEN to turn it on")
    return settings.admin_token.get_secret_value()


AdminTokenDep = Annotated[str, Depends(require_console_on)]


def get_console_session(request: Request, codec: CodecDep, admin_token: AdminTokenDep) -> ConsoleSession | None:
    return codec.decode(request.cookies.get(SESSION_COOKIE), admin_token)


ConsoleSessionDep = Annotated[ConsoleSession | None, Depends(get_console_session)]


def require_csrf(session: ConsoleSession | None, codec: ConsoleCodec, token: str) -> ConsoleSession:
    """The session a form was posted in, if it carries that session's CSRF token."""
    if session is None or not codec.csrf_ok(session, token):
        raise ConsoleCsrfRejected("this form is out of date or not from this site; reload the console")
    return session


def token_matches(given: str, admin_token: str) -> bool:
    return hmac.compare_digest(given.strip().encode(), admin_token.encode())
