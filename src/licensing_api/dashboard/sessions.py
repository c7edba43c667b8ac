"""Dashboard sessions and CSRF tokens: signed cookies that never hold an API key.

After sign-in the browser holds one HttpOnly, SameSite=Lax cookie signed with itsdangerous:
customer id, the id of the key used to sign in, and the issue time. Nothing in it is secret;
the signature only stops forgery. Every form carries a CSRF token derived from that cookie
(an HMAC of its contents), so the token changes with each sign-in and needs no storage.
The sign-in form itself is protected by a signed random nonce cookie echoed in the form.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
import uuid
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer

from licensing_api.settings import Settings

logger = logging.getLogger(__name__)

SESSION_COOKIE = "licensing_dashboard"
SIGN_IN_COOKIE = "licensing_dashboard_sign_in"
COOKIE_PATH = "/dashboard"
SESSION_MAX_AGE_SECONDS = 8 * 3600
SIGN_IN_MAX_AGE_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class DashboardSession:
    customer_id: uuid.UUID
    key_id: uuid.UUID  # the key the customer signed in with; revoking it ends the session
    issued_at: int  # Unix seconds


class SessionCodec:
    """Signs and verifies session cookies and derives CSRF tokens, with one secret."""

    def __init__(self, secret: str) -> None:
        self._sessions = URLSafeTimedSerializer(secret, salt="dashboard-session")
        self._sign_in = URLSafeTimedSerializer(secret, salt="dashboard-sign-in")
        self._csrf = Signer(secret, salt="dashboard-csrf")

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionCodec:
        if settings.session_secret is not None:
            return cls(settings.session_secret.get_secret_value())
        # Each process draws its own secret: a cookie signed by one worker is refused by
        # another, and every restart signs everyone out. Fine for one worker, wrong for more.
        logger.warning(
            "dashboard_session_secret_ephemeral",
            extra={"fix": "set SESSION_SECRET (32+ random characters) when running several workers"},
        )
        return cls(secrets.token_urlsafe(32))

    # -- sessions -------------------------------------------------------------
    def issue(self, customer_id: uuid.UUID, key_id: uuid.UUID) -> tuple[DashboardSession, str]:
        session = DashboardSession(customer_id, key_id, int(time.time()))
        return session, self.encode(session)

    def encode(self, session: DashboardSession) -> str:
        return self._sessions.dumps(
            {"c": str(session.customer_id), "k": str(session.key_id), "iat": session.issued_at}
        )

    def decode(self, cookie: str | None) -> DashboardSession | None:
        """The session in a cookie, or None if it is missing, forged, malformed or expired."""
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie, max_age=SESSION_MAX_AGE_SECONDS)
            return DashboardSession(uuid.UUID(data["c"]), uuid.UUID(data["k"]), int(data["iat"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    # -- CSRF -----------------------------------------------------------------
    def csrf_token(self, session: DashboardSession) -> str:
        payload = f"{session.customer_id}:{session.key_id}:{session.issued_at}".encode()
        return self._csrf.get_signature(payload).decode()

    def csrf_ok(self, session: DashboardSession, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), token or "")

    # -- sign-in form ---------------------------------------------------------
    def new_sign_in_nonce(self) -> tuple[str, str]:
        """A nonce for the sign-in form's hidden field and the signed cookie that matches it."""
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
