"""Forward-auth grants: a decided, not yet counted request, carried by the edge until it
reports what the origin answered (forward_auth.py, reports.py).

A grant names what to count (the usage field of the subscription item's period, the key,
the units) and when it stops being accepted; it is signed with a secret derived from
`SESSION_SECRET` (every worker and host must share it, as for dashboard cookies), so an edge
report can only count a request this service decided, and it is single-use (reports.py).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from urllib.parse import quote, unquote

from itsdangerous import BadSignature, Signer

from licensing_api.access.guard import Grant
from licensing_api.settings import Settings

logger = logging.getLogger(__name__)

# A response must be completely sent within this long after its decision to be counted: the
# edge reports a request when it ends (its access-log line).
GRANT_SECONDS = 900
SALT = "forward-auth-grant"


@dataclass(frozen=True, slots=True)
class GrantedUse:
    grant_id: str
    period_field: str
    key_id: str
    units: int
    expires: int  # Unix seconds
    path: str | None = None  # the content path served (None: a grant issued before paths were)


class GrantSigner:
    def __init__(self, secret: str) -> None:
        self._signer = Signer(secret, salt=SALT, digest_method=hashlib.sha256)

    @classmethod
    def from_settings(cls, settings: Settings) -> GrantSigner:
        if settings.session_secret is not None:
            return cls(settings.session_secret.get_secret_value())
        if settings.forward_auth_report_address is not None:  # grants are only counted then
            logger.warning(
                "forward_auth_grant_secret_ephemeral",
                extra={"fix": "set SESSION_SECRET (32+ random characters) when running several workers"},
            )
        return cls(secrets.token_urlsafe(32))

    def issue(self, grant: Grant, now: float, path: str) -> str | None:
        """The grant of a decided request, or None when nothing would be counted."""
        record, price = grant
        if record is None or record.target is None or price.units == 0:
            return None
        grant_id = base64.urlsafe_b64encode(os.urandom(12)).decode()
        payload = " ".join((
            grant_id, record.target.period_field, record.key_id_text, str(price.units), str(int(now) + GRANT_SECONDS),
            quote(path, safe="/"),
        ))
        return self._signer.sign(base64.urlsafe_b64encode(payload.encode()).rstrip(b"=")).decode()

    def read(self, token: bytes, now: float) -> GrantedUse | None:
        """The use a grant names, or None if it is forged, malformed or expired."""
        try:
            encoded = self._signer.unsign(token)
            fields = base64.urlsafe_b64decode(encoded + b"=" * (-len(encoded) % 4)).decode().split(" ")
            grant_id, period_field, key_id, units, expires, *path = fields
            if len(path) > 1:
                return None
            use = GrantedUse(grant_id, period_field, key_id, int(units), int(expires),
                             unquote(path[0]) if path else None)
        except (BadSignature, ValueError, UnicodeError):
            return None
        return use if now < use.expires else None
