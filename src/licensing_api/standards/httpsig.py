"""HTTP Message Signatures (RFC 9421), the verifying side: what a signature covers and the keys.

`SignedRequest` is the request as the signer saw it. Its `@authority` and `@scheme` are this
service's public ones (`PUBLIC_BASE_URL`), never the client's `Host` header: a signature made
for another site must not verify here, whatever `Host` the client sends. `signature_base`
rebuilds the signed text; `VerifyingKey` checks it with Ed25519 or RSA-PSS-SHA512 (the two
algorithms Web Bot Auth uses), built once from a public JWK.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from licensing_api.errors import BadRequest
from licensing_api.standards.structured_fields import (
    BareValue,
    Item,
    StructuredFieldError,
    parse_dictionary,
)

ED25519 = "ed25519"
RSA_PSS_SHA512 = "rsa-pss-sha512"
MIN_RSA_BITS = 2048
DERIVED_COMPONENTS = frozenset(
    {"@method", "@authority", "@scheme", "@target-uri", "@request-target", "@path", "@query"}
)


class InvalidBotKey(BadRequest):
    """A JWK that cannot be used to verify signatures: the message says why."""

    slug, title = "invalid-bot-key", "Invalid bot public key"


class ComponentError(ValueError):
    """A covered component cannot be rebuilt from the request; the message says why."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url_member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    try:
        raw = b64url_decode(value) if isinstance(value, str) and value else b""
    except ValueError:
        raw = b""
    if not raw:
        raise InvalidBotKey(f'"{name}" must be base64url-encoded')
    return raw


def public_jwk(jwk: Mapping[str, Any]) -> dict[str, str]:
    """The public members of an Ed25519 (`OKP`) or RSA JWK, validated."""
    if not isinstance(jwk, Mapping):
        raise InvalidBotKey("a JWK is a JSON object")
    if "d" in jwk:
        raise InvalidBotKey("that JWK holds a private key; give the public key only")
    kty = jwk.get("kty")
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        if len(_b64url_member(jwk, "x")) != 32:
            raise InvalidBotKey('"x" must be the 32-byte public key, base64url-encoded')
        return {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"]}
    if kty == "RSA":
        modulus = int.from_bytes(_b64url_member(jwk, "n"), "big")
        _b64url_member(jwk, "e")
        if modulus.bit_length() < MIN_RSA_BITS:
            raise InvalidBotKey(f"RSA keys must have at least {MIN_RSA_BITS} bits")
        return {"kty": "RSA", "n": jwk["n"], "e": jwk["e"]}
    raise InvalidBotKey(
        'supported keys: Ed25519 ("kty": "OKP", "crv": "Ed25519") and RSA ("kty": "RSA")'
    )


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint (the Web Bot Auth `keyid`), base64url without padding."""
    members = ("crv", "kty", "x") if jwk["kty"] == "OKP" else ("e", "kty", "n")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    """A public key parsed once (never per request), named by its thumbprint."""

    thumbprint: str
    algorithm: str
    public_key: Ed25519PublicKey | RSAPublicKey
    jwk: dict[str, str]

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> VerifyingKey:
        clean = public_jwk(jwk)
        if clean["kty"] == "OKP":
            key: Ed25519PublicKey | RSAPublicKey = Ed25519PublicKey.from_public_bytes(
                b64url_decode(clean["x"])
            )
            algorithm = ED25519
        else:
            numbers = RSAPublicNumbers(
                int.from_bytes(b64url_decode(clean["e"]), "big"),
                int.from_bytes(b64url_decode(clean["n"]), "big"),
            )
            key, algorithm = numbers.public_key(), RSA_PSS_SHA512
        return cls(jwk_thumbprint(clean), algorithm, key, clean)

    def verifies(self, signature: bytes, base: bytes) -> bool:
        try:
            if isinstance(self.public_key, Ed25519PublicKey):
                self.public_key.verify(signature, base)
            else:  # RFC 9421 §3.3.1: RSASSA-PSS, SHA-512, MGF1 SHA-512, 64-byte salt
                self.public_key.verify(
                    signature, base,
                    padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64),
                    hashes.SHA512(),
                )
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a signature covers, independent of the web framework."""

    method: str
    scheme: str  # this service's public scheme
    authority: str  # this service's public authority (PUBLIC_BASE_URL), never Host
    path: str
    query: str  # without the leading "?"
    headers: Mapping[str, str]  # lowercase names; repeated fields already joined with ", "

    @classmethod
    def from_scope(cls, scope: Mapping[str, Any], public_base_url: str) -> SignedRequest:
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope.get("path", "/")
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1")
            text = value.decode("latin-1").strip()
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        public = urlsplit(public_base_url)
        return cls(
            method=scope.get("method", "GET"),
            scheme=public.scheme,
            authority=public.netloc,
            path=path.split("?", 1)[0],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
        )

    def derived(self, name: str) -> str:
        authority = normalise_authority(self.authority, self.scheme)
        path = self.path or "/"
        query = "?" + self.query
        target = path + (query if self.query else "")
        return {
            "@method": self.method.upper(),
            "@authority": authority,
            "@scheme": self.scheme.lower(),
            "@path": path,
            "@query": query,
            "@request-target": target,
            "@target-uri": f"{self.scheme.lower()}://{authority}{target}",
        }[name]


def normalise_authority(authority: str, scheme: str) -> str:
    """RFC 9421 §2.2.3: lower case, without the scheme's default port."""
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


def component_value(request: SignedRequest, component: Item) -> str:
    name = component.value
    if not isinstance(name, str):
        raise ComponentError("covered components must be strings")
    if name.startswith("@"):
        if name not in DERIVED_COMPONENTS or component.params:
            raise ComponentError(f"unsupported derived component {name}")
        return request.derived(name)
    if name != name.lower():
        raise ComponentError("covered header names must be lowercase")
    value = request.headers.get(name)
    if value is None:
        raise ComponentError(f"the signature covers {name}, which the request lacks")
    unknown = set(component.params) - {"key"}
    if unknown:
        raise ComponentError(f"unsupported component parameter {sorted(unknown)[0]}")
    if "key" in component.params:  # one member of a Dictionary field (RFC 9421 §2.1.2)
        try:
            member = parse_dictionary(value).get(str(component.params["key"]))
        except StructuredFieldError:
            member = None
        if member is None:
            raise ComponentError(f"{name} has no member {component.params['key']}")
        return member.raw.strip()
    return value


def signature_base(request: SignedRequest, components: list[Item], signature_params: str) -> bytes:
    """RFC 9421 §2.5: one line per covered component, then `@signature-params`."""
    lines = [
        f'"{c.value}"{_serialize_params(c.params)}: {component_value(request, c)}' for c in components
    ]
    lines.append(f'"@signature-params": {signature_params}')
    return "\n".join(lines).encode("utf-8")
