"""Dashboard sessions and CSRF tokens: signed cookies that never hold an API key.

After sign-in the browser holds one HttpOnly, SameSite=Lax cookie signed with itsdangerous:
customer id, the id of the key used to sign in, and the issue time. Nothing in it is secret;
the signature only stops forgery. Every form carries a CSRF token derived from that cookie
(an HMAC of its contents), so the token changes with each sign-in and needs no storage.
The sign-in form itself is protected by a signed random nonce cookie echoed in the form.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from licensing_api.security.signed_forms import SignedForms
from licensing_api.settings import Settings

logger = logging.getLogger(__name__)

SESSION_COOKIE = "licensing_dashboard"
SIGN_IN_COOKIE = "licensing_dashboard_sign_in"
COOKIE_PATH = "/dashboard"
SESSION_MAX_AGE_SECONDS = 8 * 3600


@dataclass(frozen=True, slots=True)
class DashboardSession:
    customer_id: uuid.UUID
    key_id: uuid.UUID  # the key the customer signed in with; revoking it ends the session
    issued_at: int  # Unix seconds


class SessionCodec(SignedForms):
    """Signs and verifies session cookies and derives CSRF tokens, with one secret."""

    def __init__(self, secret: str) -> None:
        self._sessions = URLSafeTimedSerializer(secret, salt="dashboard-session")
        super().__init__(secret, "dashboard")

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
        return self.csrf_for(f"{session.customer_id}:{session.key_id}:{session.issued_at}")

    def csrf_ok(self, session: DashboardSession, token: str | None) -> bool:
        return self.csrf_matches(f"{session.customer_id}:{session.key_id}:{session.issued_at}", token)
