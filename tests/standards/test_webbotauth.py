"""Web Bot Auth (RFC 9421 HTTP Message Signatures): requests signed by the bound key verify;
anything else is refused with a reason."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from licensing_api.standards.webbotauth import (
    BotKey,
    BotSignatureInvalid,
    BotSignatureRequired,
    InvalidBotKey,
    SignedRequest,
    jwk_thumbprint,
    verify_request,
)
from tests.standards.signing import public_jwk_of, sign_headers, thumbprint_of

NOW = 1_800_000_000


def request(headers: dict[str, str], authority: str = "pub.example") -> SignedRequest:
    lowered = {name.lower(): value for name, value in headers.items()}
    lowered.setdefault("host", authority)
    return SignedRequest("GET", "https", lowered["host"], "/v1/content/a", "", lowered)


@pytest.fixture
def bot_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def bound(bot_private_key) -> BotKey:
    return BotKey.from_jwk(public_jwk_of(bot_private_key))


def test_a_request_signed_by_the_bound_key_verifies(bot_private_key, bound):
    headers = sign_headers(bot_private_key, authority="pub.example", created=NOW - 5, expires=NOW + 60)
    verify_request(request(headers), bound, now=NOW)


def test_a_signature_covering_signature_agent_verifies(bot_private_key, bound):
    headers = sign_headers(bot_private_key, authority="pub.example", created=NOW, expires=NOW + 60,
                           signature_agent='"https://crawler.example"')
    verify_request(request(headers), bound, now=NOW)


def test_a_request_signed_by_another_key_is_refused(bound):
    other = Ed25519PrivateKey.generate()
    headers = sign_headers(other, authority="pub.example", created=NOW, expires=NOW + 60)
    with pytest.raises(BotSignatureInvalid, match="different key"):
        verify_request(request(headers), bound, now=NOW)


def test_another_key_claiming_the_bound_keyid_is_refused(bound):
    forger = Ed25519PrivateKey.generate()
    headers = sign_headers(forger, authority="pub.example", created=NOW, expires=NOW + 60,
                           keyid=bound.thumbprint)
    with pytest.raises(BotSignatureInvalid, match="does not verify"):
        verify_request(request(headers), bound, now=NOW)


def test_a_signature_for_another_host_is_refused(bot_private_key, bound):
    headers = sign_headers(bot_private_key, authority="other.example", created=NOW, expires=NOW + 60)
    with pytest.raises(BotSignatureInvalid, match="does not verify"):
        verify_request(request(headers, authority="pub.example"), bound, now=NOW)


def test_an_expired_signature_is_refused(bot_private_key, bound):
    headers = sign_headers(bot_private_key, authority="pub.example", created=NOW - 3600, expires=NOW - 600)
    with pytest.raises(BotSignatureInvalid, match="expired"):
        verify_request(request(headers), bound, now=NOW)


def test_a_signature_without_the_web_bot_auth_tag_is_refused(bot_private_key, bound):
    headers = sign_headers(bot_private_key, authority="pub.example", created=NOW, expires=NOW + 60, tag="other")
    with pytest.raises(BotSignatureInvalid, match="web-bot-auth"):
        verify_request(request(headers), bound, now=NOW)


def test_signature_agent_must_be_covered_when_sent(bot_private_key, bound):
    headers = sign_headers(bot_private_key, authority="pub.example", created=NOW, expires=NOW + 60)
    headers["Signature-Agent"] = '"https://crawler.example"'
    with pytest.raises(BotSignatureInvalid, match="signature-agent"):
        verify_request(request(headers), bound, now=NOW)


def test_an_unsigned_request_is_refused_with_what_to_sign(bound):
    with pytest.raises(BotSignatureRequired) as refused:
        verify_request(request({}), bound, now=NOW)
    assert refused.value.status == 403
    assert f'keyid="{bound.thumbprint}"' in refused.value.headers["Accept-Signature"]


def test_keyid_is_the_rfc7638_thumbprint():
    # RFC 8037 appendix A.3: the Ed25519 example key and its JWK thumbprint.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert thumbprint_of(jwk) == jwk_thumbprint(jwk)


def test_the_published_web_bot_auth_test_vector_verifies():
    # draft-meunier-web-bot-auth-architecture test vector (Ed25519 "test-key-ed25519",
    # RFC 9421 B.1.4), as published with Cloudflare's web-bot-auth implementation.
    key = BotKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"})
    signature_input = (
        'sig2=("@authority" "signature-agent");created=1735689600;'
        'keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";expires=1735693200;'
        'nonce="ZO3/XMEZjrvSnLtAP9M7jK0WGQf3J+pbmQRUpKDhF9/jsNCWqUh2sq+TH4WTX3/GpNoSZUa8eNWMKqxWp2/c2g==";'
        'tag="web-bot-auth"'
    )
    signature = "sig2=:bcWij+p0SZDQ0hF7Bk8scjEVRMJZlk1EzEHEHUzT58VbPWRrdIRYJgYerlC4fZ01v/hlsbnLvLDrrA5fBeb1CA==:"
    headers = {"Signature-Input": signature_input, "Signature": signature,
               "Signature-Agent": "signature-agent.test"}
    verify_request(request(headers, authority="example.com"), key, now=1735689700)


def test_a_private_jwk_cannot_be_bound(bot_private_key):
    jwk = dict(public_jwk_of(bot_private_key), d="secret")
    with pytest.raises(InvalidBotKey, match="private"):
        BotKey.from_jwk(jwk)


def test_only_ed25519_keys_can_be_bound():
    with pytest.raises(InvalidBotKey, match="Ed25519"):
        BotKey.from_jwk({"kty": "RSA", "n": "x", "e": "AQAB"})


def test_the_real_clock_is_used_by_default(bot_private_key, bound):
    now = int(time.time())
    headers = sign_headers(bot_private_key, authority="pub.example", created=now, expires=now + 60)
    verify_request(request(headers), bound)
