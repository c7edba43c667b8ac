"""CSRF tokens and the sign-in form's nonce cookie, for the dashboard and the console.

A form's CSRF token is an HMAC of its session cookie's contents, so it changes with each
sign-in and needs no storage. The sign-in form (before any session) is protected by a
signed random nonce cookie that the form echoes. Each user of this class has its own salt.
"""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer

SIGN_IN_MAX_AGE_SECONDS = 3600


class SignedForms:
    def __init__(self, secret: str, salt: str) -> None:
        self._sign_in = URLSafeTimedSerializer(secret, salt=f"{salt}-sign-in")
        self._csrf = Signer(secret, salt=f"{salt}-csrf")

    def csrf_for(self, session_contents: str) -> str:
        return self._csrf.get_signature(session_contents.encode()).decode()

    def csrf_matches(self, session_contents: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_for(session_contents), token or "")

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
