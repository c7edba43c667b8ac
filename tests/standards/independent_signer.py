"""Requests signed by PyPI's `http-message-signatures` (an RFC 9421 implementation of its own),
in the Web Bot Auth profile: tag `web-bot-auth`, `keyid` the JWK thumbprint, a nonce."""

from __future__ import annotations

import base64
import datetime
import secrets
from collections.abc import Sequence

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms

from tests.standards.signing import b64url, public_jwk_of


class _OneKey(HTTPSignatureKeyResolver):
    def __init__(self, private_key: Ed25519PrivateKey | RSAPrivateKey) -> None:
        self.private_key = private_key

    def resolve_private_key(self, key_id: str) -> Ed25519PrivateKey | RSAPrivateKey:
        return self.private_key

    def resolve_public_key(self, key_id: str):  # noqa: ANN201 (the library's interface)
        return self.private_key.public_key()


def public_jwk(private_key: Ed25519PrivateKey | RSAPrivateKey) -> dict[str, str]:
    if isinstance(private_key, Ed25519PrivateKey):
        return public_jwk_of(private_key)
    numbers = private_key.public_key().public_numbers()
    def as_b64url(number: int) -> str:
        return b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))
    return {"kty": "RSA", "n": as_b64url(numbers.n), "e": as_b64url(numbers.e)}


def new_nonce() -> str:
    return base64.b64encode(secrets.token_bytes(64)).decode()


def sign_request(
    request: httpx.Request,
    private_key: Ed25519PrivateKey | RSAPrivateKey,
    *,
    keyid: str,
    created: int,
    expires: int,
    nonce: str | None = None,
    components: Sequence[str] = ("@authority",),
    label: str = "sig1",
) -> httpx.Request:
    """Sign `request` in place (adds Signature-Input and Signature) and return it."""
    algorithm = algorithms.ED25519 if isinstance(private_key, Ed25519PrivateKey) else algorithms.RSA_PSS_SHA512
    HTTPMessageSigner(signature_algorithm=algorithm, key_resolver=_OneKey(private_key)).sign(
        request,
        key_id=keyid,
        created=datetime.datetime.fromtimestamp(created, datetime.UTC),
        expires=datetime.datetime.fromtimestamp(expires, datetime.UTC),
        nonce=nonce if nonce is not None else new_nonce(),
        label=label,
        tag="web-bot-auth",
        covered_component_ids=tuple(components),
    )
    return request
