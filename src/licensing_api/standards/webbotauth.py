"""Web Bot Auth: a crawler's identity proven with HTTP Message Signatures (RFC 9421).

The profile (draft-meunier-webbotauth-httpsig-protocol, Cloudflare's web-bot-auth): the
request carries `Signature-Input` / `Signature` with one or more members tagged
`web-bot-auth`, each naming its key by `keyid` (the JWK SHA-256 thumbprint, RFC 7638), with
`created` and `expires`, usually a `nonce`, covering `@authority` (or `@target-uri`) and, when
a `Signature-Agent` header is sent, that header. Every tagged member is tried: a crawler may
sign with several keys (rotation) and any one that verifies proves the identity.

The window `expires - created` may be at most `WEB_BOT_AUTH_MAX_WINDOW_SECONDS`; `created` may
be at most `CLOCK_SKEW_SECONDS` in the future and `expires` that much in the past. Replays are
refused by the caller with the verified nonce (`bots/nonces.py`): a signature is a bearer
credential for its whole window, so who bills on it must remember what it has seen.

Two uses: a registered bot's keyless request (`bots/identify.py`), and an API key bound to a
bot key (`keys bind-bot-key`), whose requests must be signed by that key (403 otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from starlette.requests import Request

from licensing_api.errors import ProblemError
from licensing_api.standards.httpsig import (
    ComponentError,
    InvalidBotKey,
    SignedRequest,
    VerifyingKey,
    jwk_thumbprint,
    public_jwk,
    signature_base,
)
from licensing_api.standards.structured_fields import Item, StructuredFieldError, parse_dictionary

TAG = "web-bot-auth"
CLOCK_SKEW_SECONDS = 60
DEFAULT_MAX_WINDOW_SECONDS = 3600
MAX_NONCE_LENGTH = 256
BotKey = VerifyingKey  # the name the access record and the key binding use

__all__ = [
    "BotKey", "BotSignatureInvalid", "BotSignatureRequired", "InvalidBotKey", "SignatureCandidate",
    "SignatureWindow", "SignedRequest", "VerifiedSignature", "jwk_thumbprint", "public_jwk",
    "signature_candidates", "verify_candidate", "verify_request",
]


class BotSignatureRequired(ProblemError):
    status, slug, title = 403, "bot-signature-required", "Signed request required"


class BotSignatureInvalid(ProblemError):
    status, slug, title = 403, "bot-signature-invalid", "Invalid request signature"


class SignatureRejected(ValueError):
    """One signature member does not hold; the message says why (for the refusal's detail)."""


@dataclass(frozen=True, slots=True)
class SignatureWindow:
    """The validity rules: the longest window accepted and the clock."""

    max_seconds: int = DEFAULT_MAX_WINDOW_SECONDS
    clock: Callable[[], float] = time.time


@dataclass(frozen=True, slots=True)
class SignatureCandidate:
    """One `web-bot-auth` member of `Signature-Input`, with its `Signature`."""

    label: str
    keyid: str | None
    components: tuple[Item, ...]
    params: dict[str, object]
    raw_params: str  # the member as sent: what `@signature-params` signs
    signature: bytes | None


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    keyid: str
    label: str
    created: int
    expires: int
    nonce: str | None
    covered: frozenset[str]  # covered component names (header names lowercase)


def signature_candidates(request: SignedRequest) -> list[SignatureCandidate]:
    """Every member tagged `web-bot-auth`, in the order sent; [] if the request is unsigned.
    Raises `SignatureRejected` if the signature headers cannot be read at all."""
    signature_input = request.headers.get("signature-input")
    signature_header = request.headers.get("signature")
    if not signature_input and not signature_header:
        return []
    if not signature_input or not signature_header:
        raise SignatureRejected("send both Signature-Input and Signature")
    try:
        inputs = parse_dictionary(signature_input)
        signatures = parse_dictionary(signature_header)
    except StructuredFieldError as exc:
        raise SignatureRejected(f"malformed signature headers: {exc}") from None
    candidates = []
    for label, member in inputs.items():
        if member.params.get("tag") != TAG or not isinstance(member.value, list):
            continue
        sent = signatures.get(label)
        value = sent.value if sent is not None else None
        signature = value.value if isinstance(value, Item) and isinstance(value.value, bytes) else None
        keyid = member.params.get("keyid")
        candidates.append(SignatureCandidate(
            label=label,
            keyid=keyid if isinstance(keyid, str) else None,
            components=tuple(member.value),
            params=dict(member.params),
            raw_params=member.raw.strip(),
            signature=signature,
        ))
    if not candidates:
        raise SignatureRejected(f'no signature tagged "{TAG}"')
    return candidates


def verify_candidate(
    request: SignedRequest, candidate: SignatureCandidate, key: VerifyingKey, window: SignatureWindow,
) -> VerifiedSignature:
    """Check one member against `key`; `SignatureRejected` says why it does not hold."""
    params = candidate.params
    if candidate.keyid != key.thumbprint:
        raise SignatureRejected("signed by another key")
    if params.get("alg", key.algorithm) != key.algorithm:
        raise SignatureRejected(f"that key signs with alg={key.algorithm}")
    created, expires = params.get("created"), params.get("expires")
    if type(created) is not int or type(expires) is not int:
        raise SignatureRejected("created and expires are required (Unix seconds)")
    now = window.clock()
    if expires <= now - CLOCK_SKEW_SECONDS:
        raise SignatureRejected("the signature has expired")
    if created > now + CLOCK_SKEW_SECONDS or expires <= created:
        raise SignatureRejected("created/expires are not a valid window")
    if expires - created > window.max_seconds:
        raise SignatureRejected(f"the signature is valid for more than {window.max_seconds} s")
    nonce = params.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not 0 < len(nonce) <= MAX_NONCE_LENGTH):
        raise SignatureRejected(f"the nonce must be a string of 1 to {MAX_NONCE_LENGTH} characters")
    covered = frozenset(str(c.value) for c in candidate.components)
    if "@authority" not in covered and "@target-uri" not in covered:
        raise SignatureRejected("the signature must cover @authority")
    if "signature-agent" in request.headers and "signature-agent" not in covered:
        raise SignatureRejected("the signature must cover signature-agent")
    if candidate.signature is None:
        raise SignatureRejected(f"no Signature member {candidate.label}")
    try:
        base = signature_base(request, list(candidate.components), candidate.raw_params)
    except ComponentError as exc:
        raise SignatureRejected(str(exc)) from None
    if not key.verifies(candidate.signature, base):
        raise SignatureRejected("the signature does not verify")
    return VerifiedSignature(
        keyid=key.thumbprint, label=candidate.label, created=created, expires=expires,
        nonce=nonce, covered=covered,
    )


def uncovered(verified: VerifiedSignature, request: SignedRequest, names: Collection[str]) -> list[str]:
    """Headers among `names` the request sends but the signature does not cover."""
    return [name for name in names if name in request.headers and name not in verified.covered]


def verify_request(
    request: SignedRequest, key: VerifyingKey, window: SignatureWindow | None = None,
) -> VerifiedSignature:
    """Raise `BotSignatureRequired` or `BotSignatureInvalid` (403) unless a `web-bot-auth`
    member verifies with `key` (an API key bound to a bot key)."""
    hint = {"Accept-Signature": accept_signature(key)}
    try:
        candidates = signature_candidates(request)
    except SignatureRejected as exc:
        raise BotSignatureInvalid(str(exc), headers=hint) from None
    if not candidates:
        raise BotSignatureRequired(
            "this API key is bound to a bot's public key: sign the request with it "
            "(Web Bot Auth, RFC 9421 Signature-Input and Signature headers)",
            headers=hint,
        )
    mine = [c for c in candidates if c.keyid == key.thumbprint]
    if not mine:
        raise BotSignatureInvalid(
            "the request is signed by a different key than the one bound to this API key",
            headers=hint,
        )
    reasons = []
    for candidate in mine:
        try:
            return verify_candidate(request, candidate, key, window or SignatureWindow())
        except SignatureRejected as exc:
            reasons.append(str(exc))
    raise BotSignatureInvalid("; ".join(reasons), headers=hint)


def accept_signature(key: VerifyingKey) -> str:
    return f'sig1=("@authority");keyid="{key.thumbprint}";alg="{key.algorithm}";tag="{TAG}"'


def verify_bot_signature(request: Request, key: VerifyingKey, public_base_url: str,
                         window: SignatureWindow | None = None) -> VerifiedSignature:
    """`verify_request` for a Starlette request (an API key bound to a bot key)."""
    return verify_request(SignedRequest.from_scope(request.scope, public_base_url), key, window)
