"""Signatures made by an independent RFC 9421 implementation (PyPI `http-message-signatures`)
verify here, for both Web Bot Auth algorithms and with payment headers covered."""

from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from licensing_api.standards.httpsig import SignedRequest, VerifyingKey
from licensing_api.standards.webbotauth import (
    BotSignatureInvalid,
    SignatureWindow,
    uncovered,
    verify_request,
)
from tests.standards.independent_signer import public_jwk, sign_request

NOW = 1_900_000_000


def received(request: httpx.Request, public_base_url: str = "https://pub.example") -> SignedRequest:
    scope = {
        "method": request.method,
        "raw_path": request.url.raw_path.split(b"?")[0],
        "query_string": request.url.query,
        "headers": [(k.lower(), v) for k, v in request.headers.raw],
    }
    return SignedRequest.from_scope(scope, public_base_url)


@pytest.fixture(params=["ed25519", "rsa-pss-sha512"])
def private_key(request):
    if request.param == "ed25519":
        return Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_an_independently_signed_request_verifies(private_key):
    key = VerifyingKey.from_jwk(public_jwk(private_key))
    request = sign_request(
        httpx.Request("GET", "https://pub.example/v1/content/a?x=1", headers={"crawler-max-price": "USD 0.01"}),
        private_key, keyid=key.thumbprint, created=NOW, expires=NOW + 300,
        components=("@method", "@authority", "@path", "@query", "crawler-max-price"),
    )
    signed = received(request)
    verified = verify_request(signed, key, SignatureWindow(clock=lambda: NOW))
    assert verified.nonce and uncovered(verified, signed, ("crawler-max-price",)) == []


def test_an_uncovered_payment_header_is_reported(private_key):
    key = VerifyingKey.from_jwk(public_jwk(private_key))
    request = sign_request(httpx.Request("GET", "https://pub.example/v1/content/a"), private_key,
                           keyid=key.thumbprint, created=NOW, expires=NOW + 300)
    request.headers["crawler-exact-price"] = "USD 1.00"  # added after signing
    signed = received(request)
    verified = verify_request(signed, key, SignatureWindow(clock=lambda: NOW))
    assert uncovered(verified, signed, ("crawler-exact-price", "crawler-max-price")) == ["crawler-exact-price"]


def test_a_tampered_covered_header_does_not_verify(private_key):
    key = VerifyingKey.from_jwk(public_jwk(private_key))
    request = sign_request(
        httpx.Request("GET", "https://pub.example/v1/content/a", headers={"crawler-max-price": "USD 0.01"}),
        private_key, keyid=key.thumbprint, created=NOW, expires=NOW + 300,
        components=("@authority", "crawler-max-price"),
    )
    request.headers["crawler-max-price"] = "USD 100.00"
    with pytest.raises(BotSignatureInvalid, match="does not verify"):
        verify_request(received(request), key, SignatureWindow(clock=lambda: NOW))
