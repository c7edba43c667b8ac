"""A Web Bot Auth signer for tests, written from RFC 9421 directly (independent of the
verifier): it builds the signature base line by line and signs it with Ed25519."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk_of(private_key: Ed25519PrivateKey) -> dict[str, str]:
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}


def thumbprint_of(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members in lexicographic order, no whitespace."""
    canonical = '{"crv":"%s","kty":"%s","x":"%s"}' % (jwk["crv"], jwk["kty"], jwk["x"])
    return b64url(hashlib.sha256(canonical.encode()).digest())


def sign_headers(
    private_key: Ed25519PrivateKey,
    *,
    authority: str,
    created: int,
    expires: int,
    keyid: str | None = None,
    signature_agent: str | None = None,
    tag: str = "web-bot-auth",
    label: str = "sig1",
) -> dict[str, str]:
    """`Signature-Input` and `Signature` (and `Signature-Agent`) for a request to `authority`."""
    keyid = keyid or thumbprint_of(public_jwk_of(private_key))
    components = ['"@authority"'] + (['"signature-agent"'] if signature_agent else [])
    params = (
        f"({' '.join(components)});created={created};keyid=\"{keyid}\";alg=\"ed25519\""
        f";expires={expires};tag=\"{tag}\""
    )
    lines = [f'"@authority": {authority}']
    if signature_agent:
        lines.append(f'"signature-agent": {signature_agent}')
    lines.append(f'"@signature-params": {params}')
    signature = private_key.sign("\n".join(lines).encode())
    headers = {
        "Signature-Input": f"{label}={params}",
        "Signature": f"{label}=:{base64.b64encode(signature).decode()}:",
    }
    if signature_agent:
        headers["Signature-Agent"] = signature_agent
    return headers


def jwk_file_text(private_key: Ed25519PrivateKey) -> str:
    return json.dumps(public_jwk_of(private_key))
