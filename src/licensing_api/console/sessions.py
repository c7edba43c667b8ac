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

from itsdangerous import BadSignature, URLSafeTimedSerializer

from licensing_api.security.signed_forms import SignedForms
from licensing_api.settings import Settings

logger = logging.getLogger(__name__)

SESSION_COOKIE = "licensing_console"
SIGN_IN_COOKIE = "licensing_console_sign_in"
COOKIE_PATH = "/console"
SESSION_MAX_AGE_SECONDS = 8 * 3600


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    token_fingerprint: str  # of the ADMIN_TOKEN used to sign in; a new token ends the session
    issued_at: int  # Unix seconds
    nonce: str  # distinct CSRF tokens for two sessions opened in the same second


class ConsoleCodec(SignedForms):
    """Signs and verifies console cookies and derives CSRF tokens, with one secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._sessions = URLSafeTimedSerializer(secret, salt="console-session")
        super().__init__(secret, "console")

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
        return self.csrf_for(f"{session.token_fingerprint}:{session.issued_at}:{session.nonce}")

    def csrf_ok(self, session: ConsoleSession, token: str | None) -> bool:
        return self.csrf_matches(f"{session.token_fingerprint}:{session.issued_at}:{session.nonce}", token)
