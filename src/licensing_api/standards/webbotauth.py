"""Web Bot Auth: verify a crawler's identity with HTTP Message Signatures (RFC 9421).

An operator may bind an API key to a bot's Ed25519 public key (a JWK, `api_keys.bot_public_key`;
`licensing-api keys bind-bot-key`). A request with such a key must then carry a signature by
that key following the Web Bot Auth profile (draft-meunier-webbotauth-httpsig-protocol):
`Signature-Input` / `Signature` headers, a member tagged `web-bot-auth` whose `keyid` is the
key's JWK SHA-256 thumbprint (RFC 7638), `created` and `expires`, covering `@authority` (and
`signature-agent` when a `Signature-Agent` header is sent), algorithm ed25519.

A request that fails is refused with 403: the bearer key itself was valid, but the caller has
not proven it is the bot the key is bound to. RFC 9421 defines no `WWW-Authenticate` scheme
(which a 401 must carry); the answer carries `Accept-Signature` saying what to sign instead.
Replay within the validity window is not prevented (no nonce store): keep `expires` short.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.requests import Request

from licensing_api.errors import BadRequest, ProblemError
from licensing_api.standards.structured_fields import (
    BareValue,
    Item,
    StructuredFieldError,
    parse_dictionary,
)

TAG = "web-bot-auth"
ALGORITHM = "ed25519"
CLOCK_SKEW_SECONDS = 60
MAX_VALIDITY_SECONDS = 24 * 3600
DERIVED_COMPONENTS = frozenset(
    {"@method", "@authority", "@scheme", "@target-uri", "@request-target", "@path", "@query"}
)


class InvalidBotKey(BadRequest):
    """A JWK that cannot be bound: the message says why."""

    slug, title = "invalid-bot-key", "Invalid bot public key"


class BotSignatureRequired(ProblemError):
    status, slug, title = 403, "bot-signature-required", "Signed request required"


class BotSignatureInvalid(ProblemError):
    status, slug, title = 403, "bot-signature-invalid", "Invalid request signature"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(jwk: Mapping[str, Any]) -> dict[str, str]:
    """The public part of an Ed25519 JWK (`kty` OKP, `crv` Ed25519, `x`), validated."""
    if not isinstance(jwk, Mapping):
        raise InvalidBotKey("a JWK is a JSON object")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise InvalidBotKey('only Ed25519 keys are supported: "kty": "OKP", "crv": "Ed25519"')
    if "d" in jwk:
        raise InvalidBotKey("that JWK holds a private key; bind the public key only")
    x = jwk.get("x")
    try:
        raw = _b64url_decode(x) if isinstance(x, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InvalidBotKey('"x" must be the 32-byte public key, base64url-encoded')
    return {"kty": "OKP", "crv": "Ed25519", "x": x}  # type: ignore[dict-item]


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of an OKP key, base64url without padding."""
    required = {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


@dataclass(frozen=True, slots=True)
class BotKey:
    """A bound public key, parsed once (when the access record is built), not per request."""

    thumbprint: str
    public_key: Ed25519PublicKey

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> BotKey:
        clean = public_jwk(jwk)
        return cls(
            thumbprint=jwk_thumbprint(clean),
            public_key=Ed25519PublicKey.from_public_bytes(_b64url_decode(clean["x"])),
        )

    def accept_signature(self) -> str:
        return f'sig1=("@authority");keyid="{self.thumbprint}";alg="{ALGORITHM}";tag="{TAG}"'


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a signature covers, independent of the web framework."""

    method: str
    scheme: str
    authority: str
    path: str
    query: str  # without the leading "?"
    headers: Mapping[str, str]  # lowercase names; repeated fields already joined with ", "

    @classmethod
    def from_starlette(cls, request: Request) -> SignedRequest:
        scope = request.scope
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else request.url.path
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1")
            text = value.decode("latin-1").strip()
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        return cls(
            method=request.method,
            scheme=request.url.scheme,
            authority=headers.get("host", request.url.netloc),
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
        )

    def derived(self, name: str) -> str:
        authority = _normalise_authority(self.authority, self.scheme)
        query = "?" + self.query
        return {
            "@method": self.method.upper(),
            "@authority": authority,
            "@scheme": self.scheme.lower(),
            "@path": self.path or "/",
            "@query": query,
            "@request-target": (self.path or "/") + (query if self.query else ""),
            "@target-uri": f"{self.scheme.lower()}://{authority}{self.path or '/'}"
            + (query if self.query else ""),
        }[name]


def _normalise_authority(authority: str, scheme: str) -> str:
    authority = authority.strip().lower()
    default = {"http": ":80", "https": ":443"}.get(scheme.lower())
    if default and authority.endswith(default):
        authority = authority[: -len(default)]
    return authority


def _serialize_params(params: Mapping[str, BareValue]) -> str:
    out = []
    for name, value in params.items():
        if value is True:
            out.append(f";{name}")
        elif isinstance(value, str):
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f';{name}="{escaped}"')
        else:
            out.append(f";{name}={value}")
    return "".join(out)


def _component_value(request: SignedRequest, component: Item) -> str:
    name = component.value
    if not isinstance(name, str):
        raise BotSignatureInvalid("covered components must be strings")
    if name.startswith("@"):
        if name not in DERIVED_COMPONENTS or component.params:
            raise BotSignatureInvalid(f"unsupported derived component {name}")
        return request.derived(name)
    if name != name.lower():
        raise BotSignatureInvalid("covered header names must be lowercase")
    value = request.headers.get(name)
    if value is None:
        raise BotSignatureInvalid(f"the signature covers {name}, which the request lacks")
    unknown = set(component.params) - {"key"}
    if unknown:
        raise BotSignatureInvalid(f"unsupported component parameter {sorted(unknown)[0]}")
    if "key" in component.params:  # one member of a Dictionary field (RFC 9421 §2.1.2)
        try:
            member = parse_dictionary(value).get(str(component.params["key"]))
        except StructuredFieldError:
            member = None
        if member is None:
            raise BotSignatureInvalid(f"{name} has no member {component.params['key']}")
        return member.raw.strip()
    return value


def signature_base(request: SignedRequest, components: list[Item], signature_params: str) -> bytes:
    lines = [
        f'"{c.value}"{_serialize_params(c.params)}: {_component_value(request, c)}' for c in components
    ]
    lines.append(f'"@signature-params": {signature_params}')
    return "\n".join(lines).encode("utf-8")


def verify_request(request: SignedRequest, key: BotKey, now: float | None = None) -> None:
    """Raise `BotSignatureRequired` or `BotSignatureInvalid` unless `request` carries a valid
    Web Bot Auth signature by `key`."""
    hint = {"Accept-Signature": key.accept_signature()}
    signature_input = request.headers.get("signature-input")
    signature_header = request.headers.get("signature")
    if not signature_input or not signature_header:
        raise BotSignatureRequired(
            "this API key is bound to a bot's public key: sign the request with it "
            "(Web Bot Auth, RFC 9421 Signature-Input and Signature headers)",
            headers=hint,
        )
    try:
        inputs = parse_dictionary(signature_input)
        signatures = parse_dictionary(signature_header)
    except StructuredFieldError as exc:
        raise BotSignatureInvalid(f"malformed signature headers: {exc}", headers=hint) from None

    label = next((name for name, m in inputs.items() if m.params.get("tag") == TAG), None)
    if label is None:
        raise BotSignatureInvalid(f'no signature tagged "{TAG}"', headers=hint)
    member = inputs[label]
    params = member.params
    components = member.value if isinstance(member.value, list) else None
    if components is None:
        raise BotSignatureInvalid("Signature-Input members must be inner lists", headers=hint)
    if params.get("keyid") != key.thumbprint:
        raise BotSignatureInvalid(
            "the request is signed by a different key than the one bound to this API key",
            headers=hint,
        )
    if params.get("alg", ALGORITHM) != ALGORITHM:
        raise BotSignatureInvalid(f"use alg={ALGORITHM}", headers=hint)
    created, expires = params.get("created"), params.get("expires")
    if not isinstance(created, int) or not isinstance(expires, int) or isinstance(created, bool):
        raise BotSignatureInvalid("created and expires are required (Unix seconds)", headers=hint)
    now = time.time() if now is None else now
    if expires <= now - CLOCK_SKEW_SECONDS:
        raise BotSignatureInvalid("the signature has expired", headers=hint)
    if created > now + CLOCK_SKEW_SECONDS or expires <= created:
        raise BotSignatureInvalid("created/expires are not a valid window", headers=hint)
    if expires - created > MAX_VALIDITY_SECONDS:
        raise BotSignatureInvalid("the signature is valid for more than 24 hours", headers=hint)
    covered = {c.value for c in components}
    if "@authority" not in covered:
        raise BotSignatureInvalid("the signature must cover @authority", headers=hint)
    if "signature-agent" in request.headers and "signature-agent" not in covered:
        raise BotSignatureInvalid("the signature must cover signature-agent", headers=hint)

    signature = signatures.get(label)
    if signature is None or not isinstance(signature.value, Item) or not isinstance(signature.value.value, bytes):
        raise BotSignatureInvalid(f"no Signature member {label}", headers=hint)
    try:
        base = signature_base(request, components, member.raw.strip())
    except BotSignatureInvalid as exc:
        raise BotSignatureInvalid(exc.detail, headers=hint) from None
    try:
        key.public_key.verify(signature.value.value, base)
    except InvalidSignature:
        raise BotSignatureInvalid("the signature does not verify", headers=hint) from None


def verify_bot_signature(request: Request, key: BotKey) -> None:
    """`verify_request` for a Starlette/FastAPI request (the hot path's entry point)."""
    verify_request(SignedRequest.from_starlette(request), key)
