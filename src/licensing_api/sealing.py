"""Sealing short-lived secrets kept in the database (a signup's first key until it is shown).

The key is derived from `SESSION_SECRET` (HKDF-SHA256, its own `info`), so every worker and
host that shares the setting can open what another sealed. Without `SESSION_SECRET` each
process draws its own key, as the dashboard's cookie signer does: one worker only.
"""

from __future__ import annotations

import base64
import logging
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from licensing_api.settings import Settings

logger = logging.getLogger(__name__)


class SealedSecretUnreadable(Exception):
    """Sealed with another key: another `SESSION_SECRET`, or another process without one."""


class SecretSealer:
    def __init__(self, master_secret: bytes, purpose: bytes = b"signup-secret", *,
                 ephemeral: bool = False) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"licensing-api", info=purpose).derive(master_secret)
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self._warn_on_seal = ephemeral

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretSealer:
        if settings.session_secret is not None:
            return cls(settings.session_secret.get_secret_value().encode())
        return cls(secrets.token_bytes(32), ephemeral=True)

    def seal(self, secret: str) -> str:
        if self._warn_on_seal:  # once, and only in a process that seals at all
            self._warn_on_seal = False
            logger.warning("sealing_secret_ephemeral", extra={
                "fix": "set SESSION_SECRET (32+ random characters) when running several workers"})
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except InvalidToken:
            raise SealedSecretUnreadable("sealed with another key") from None
