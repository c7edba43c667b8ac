"""Console sessions and CSRF tokens: signed cookies that never hold the admin token.

After sign-in the browser holds one HttpOnly, SameSite=Strict cookie signed with
itsdangerous: the issue time and a fingerprint of the `ADMIN_TOKEN` it was opened with (an
HMAC, not the token), so changing the token ends every session. Each form carries a CSRF
token derived from the cookie; the sign-in form is protected by a signed nonce cookie, as
the dashboard's is (`dashboard/sessions.py`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer

from licensing_api.settings import Settings

logger = logging.getLogger(__name__)

SESSION_COOKIE = "licensing_console"
SIGN_IN_COOKIE = "licensing_console_sign_in"
COOKIE_PATH = "/console"
SESSION_MAX_AGE_SECONDS = 8 * 3600
SIGN_IN_MAX_AGE_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    token_fingerprint: str  # of the ADMIN_TOKEN used to sign in; a new token ends the session
    issued_at: int  # Unix seconds
    nonce: str  # distinct CSRF tokens for two sessions opened in the same second


class ConsoleCodec:
    """Signs and verifies console cookies and derives CSRF tokens, with one secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._sessions = URLSafeTimedSerializer(secret, salt="console-session")
        self._sign_in = URLSafeTimedSerializer(secret, salt="console-sign-in")
        self._csrf = Signer(secret, salt="console-csrf")

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleCodec:
        if settings.session_secret is not None:
            return cls(settings.session_secret.get_secret_value())
        logger.warning(
            "console_session_secret_ephemeral",
            extra={"fix": "set SESSION_SECRET (32+ random characters) when running several workers"},
        )
        return cls(secrets.token_urlsafe(32))

    def fingerprint(self, admin_token: str) -> str:
        return hmac.new(self._secret, b"console-admin-token:" + admin_token.encode(), hashlib.sha256).hexdigest()[:32]

    # -- sessions -------------------------------------------------------------
    def issue(self, admin_token: str) -> tuple[ConsoleSession, str]:
        session = ConsoleSession(self.fingerprint(admin_token), int(time.time()), secrets.token_urlsafe(8))
        return session, self._sessions.dumps(
            {"t": session.token_fingerprint, "iat": session.issued_at, "n": session.nonce}
        )

    def decode(self, cookie: str | None, admin_token: str) -> ConsoleSession | None:
        """The session in a cookie, or None if missing, forged, expired or from another token."""
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie, max_age=SESSION_MAX_AGE_SECONDS)
            session = ConsoleSession(str(data["t"]), int(data["iat"]), str(data["n"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        if not hmac.compare_digest(session.token_fingerprint, self.fingerprint(admin_token)):
            return None
        return session

    # -- CSRF -----------------------------------------------------------------
    def csrf_token(self, session: ConsoleSession) -> str:
        payload = f"{session.token_fingerprint}:{session.issued_at}:{session.nonce}".encode()
        return self._csrf.get_signature(payload).decode()

    def csrf_ok(self, session: ConsoleSession, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), token or "")

    # -- sign-in form ---------------------------------------------------------
    def new_sign_in_nonce(self) -> tuple[str, str]:
        nonce = secrets.token_urlsafe(24)
        return nonce, self._sign_in.dumps(nonce)

    def sign_in_nonce_ok(self, cookie: str | None, field: str | None) -> bool:
        if not cookie or not field:
            return False
        try:
            nonce = self._sign_in.loads(cookie, max_age=SIGN_IN_MAX_AGE_SECONDS)
        except BadSignature:
            return False
        return isinstance(nonce, str) and hmac.compare_digest(nonce, field)
