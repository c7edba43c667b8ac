"""Cloudflare's published Web Bot Auth test vectors (tests/standards/vectors, unchanged) verify:
Ed25519 and RSA-PSS-SHA512, with and without `Signature-Agent`, draft versions 1 and 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from licensing_api.standards.httpsig import SignedRequest, VerifyingKey
from licensing_api.standards.webbotauth import BotSignatureInvalid, SignatureWindow, verify_request

VECTORS = Path(__file__).parent / "vectors"
CASES = [
    (version, index, vector)
    for version in ("v1", "v2")
    for index, vector in enumerate(json.loads((VECTORS / f"web_bot_auth_architecture_{version}.json").read_text()))
]
IDS = [f"{version}-{index}-{vector['key']['kty']}-{vector['label']}" for version, index, vector in CASES]


def vector_request(vector: dict) -> SignedRequest:
    """The vector's request as a service at https://example.com receives it."""
    headers = {"signature-input": vector["signature_input"], "signature": vector["signature"]}
    if "signature_agent" in vector:
        headers["signature-agent"] = vector["signature_agent"]
    return SignedRequest("GET", "https", "example.com", "/path/to/resource", "", headers)


def public_key_of(vector: dict) -> VerifyingKey:
    """The vector's key without its private members, as a key directory would publish it."""
    return VerifyingKey.from_jwk({k: v for k, v in vector["key"].items() if k in ("kty", "crv", "x", "n", "e")})


def window_of(vector: dict, max_seconds: int) -> SignatureWindow:
    return SignatureWindow(max_seconds, clock=lambda: vector["created_ms"] / 1000)


@pytest.mark.parametrize(("version", "index", "vector"), CASES, ids=IDS)
def test_the_vector_verifies_with_its_public_key(version, index, vector):
    key = public_key_of(vector)
    window = (vector["expires_ms"] - vector["created_ms"]) // 1000
    verified = verify_request(vector_request(vector), key, window_of(vector, window))
    assert verified.keyid == key.thumbprint  # the vector's keyid is the RFC 7638 thumbprint
    assert verified.nonce == vector["nonce"]


@pytest.mark.parametrize(("version", "index", "vector"), [c for c in CASES if c[0] == "v2"],
                         ids=[i for i in IDS if i.startswith("v2")])
def test_the_v2_vectors_century_long_window_needs_a_larger_maximum_window(version, index, vector):
    key = public_key_of(vector)
    with pytest.raises(BotSignatureInvalid, match="valid for more than 3600 s"):
        verify_request(vector_request(vector), key, window_of(vector, 3600))


@pytest.mark.parametrize(("version", "index", "vector"), CASES[:1], ids=IDS[:1])
def test_a_vector_for_example_com_does_not_verify_at_another_authority(version, index, vector):
    key = public_key_of(vector)
    elsewhere = vector_request(vector)
    elsewhere = SignedRequest("GET", "https", "pub.example", elsewhere.path, "", elsewhere.headers)
    with pytest.raises(BotSignatureInvalid, match="does not verify"):
        verify_request(elsewhere, key, window_of(vector, 10**10))
