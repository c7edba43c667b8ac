"""Web Bot Auth (RFC 9421 HTTP Message Signatures): requests signed by the bound key verify;
anything else is refused with a reason."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from licensing_api.standards.httpsig import SignedRequest, VerifyingKey
from licensing_api.standards.webbotauth import (
    BotSignatureInvalid,
    BotSignatureRequired,
    InvalidBotKey,
    SignatureWindow,
    jwk_thumbprint,
    verify_request,
)
from tests.standards.signing import public_jwk_of, sign_headers, thumbprint_of

NOW = 1_800_000_000
AT_NOW = SignatureWindow(clock=lambda: NOW)


def request(headers: dict[str, str], authority: str = "pub.example") -> SignedRequest:
    """A request as this service (PUBLIC_BASE_URL https://`authority`) receives it."""
    lowered = {name.lower(): value for name, value in headers.items()}
    return SignedRequest("GET", "https", authority, "/v1/content/a", "", lowered)


@pytest.fixture
def bot_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def bound(bot_private_key) -> VerifyingKey:
    return VerifyingKey.from_jwk(public_jwk_of(bot_private_key))


def test_a_request_signed_by_the_bound_key_verifies(bot_private_key, bound):
    headers = sign_headers(bot_private_key, authority="pub.example", created=NOW - 5, expires=NOW + 60)
    verified = verify_request(request(headers), bound, AT_NOW)
    assert (verified.keyid, verified.created, verified.expires) == (bound.thumbprint, NOW - 5, NOW + 60)


def test_a_signature_covering_signature_agent_verifies(bot_private_key, bound):
    headers = sign_headers(bot_private_key, authority="pub.example", created=NOW, expires=NOW + 60,
                           signature_agent='"https://crawler.example"')
    assert "signature-agent" in verify_request(request(headers), bound, AT_NOW).covered


def test_a_request_signed_by_another_key_is_refused(bound):
    other = Ed25519PrivateKey.generate()
    headers = sign_headers(other, authority="pub.example", created=NOW, expires=NOW + 60)
    with pytest.raises(BotSignatureInvalid, match="different key"):
        verify_request(request(headers), bound, AT_NOW)


def test_another_key_claiming_the_bound_keyid_is_refused(bound):
    forger = Ed25519PrivateKey.generate()
    headers = sign_headers(forger, authority="pub.example", created=NOW, expires=NOW + 60,
                           keyid=bound.thumbprint)
    with pytest.raises(BotSignatureInvalid, match="does not verify"):
        verify_request(request(headers), bound, AT_NOW)


def test_a_signature_for_another_host_is_refused_whatever_host_is_sent(bot_private_key, bound):
    headers = sign_headers(bot_private_key, authority="other.example", created=NOW, expires=NOW + 60)
    headers["Host"] = "other.example"  # the client's Host header is not this service's authority
    with pytest.raises(BotSignatureInvalid, match="does not verify"):
        verify_request(request(headers, authority="pub.example"), bound, AT_NOW)


def test_every_web_bot_auth_member_is_tried(bot_private_key, bound):
    stale = sign_headers(bot_private_key, authority="pub.example", created=NOW - 7200,
                         expires=NOW - 3600, label="old")
    fresh = sign_headers(bot_private_key, authority="pub.example", created=NOW, expires=NOW + 60,
                         label="new")
    headers = {name: f"{stale[name]}, {fresh[name]}" for name in ("Signature-Input", "Signature")}
    assert verify_request(request(headers), bound, AT_NOW).label == "new"


def test_an_expired_signature_is_refused(bot_private_key, bound):
    headers = sign_headers(bot_private_key, authority="pub.example", created=NOW - 3600, expires=NOW - 600)
    with pytest.raises(BotSignatureInvalid, match="expired"):
        verify_request(request(headers), bound, AT_NOW)


def test_a_window_longer_than_the_maximum_is_refused(bot_private_key, bound):
    headers = sign_headers(bot_private_key, authority="pub.example", created=NOW, expires=NOW + 601)
    with pytest.raises(BotSignatureInvalid, match="more than 600 s"):
        verify_request(request(headers), bound, SignatureWindow(600, clock=lambda: NOW))
    verify_request(request(headers), bound, SignatureWindow(601, clock=lambda: NOW))


def test_a_signature_without_the_web_bot_auth_tag_is_refused(bot_private_key, bound):
    headers = sign_headers(bot_private_key, authority="pub.example", created=NOW, expires=NOW + 60, tag="other")
    with pytest.raises(BotSignatureInvalid, match="web-bot-auth"):
        verify_request(request(headers), bound, AT_NOW)


def test_signature_agent_must_be_covered_when_sent(bot_private_key, bound):
    headers = sign_headers(bot_private_key, authority="pub.example", created=NOW, expires=NOW + 60)
    headers["Signature-Agent"] = '"https://crawler.example"'
    with pytest.raises(BotSignatureInvalid, match="signature-agent"):
        verify_request(request(headers), bound, AT_NOW)


def test_an_unsigned_request_is_refused_with_what_to_sign(bound):
    with pytest.raises(BotSignatureRequired) as refused:
        verify_request(request({}), bound, AT_NOW)
    assert refused.value.status == 403
    assert f'keyid="{bound.thumbprint}"' in refused.value.headers["Accept-Signature"]


def test_keyid_is_the_rfc7638_thumbprint():
    # RFC 8037 appendix A.3: the Ed25519 example key and its JWK thumbprint.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert thumbprint_of(jwk) == jwk_thumbprint(jwk)


def test_a_private_jwk_cannot_be_bound(bot_private_key):
    jwk = dict(public_jwk_of(bot_private_key), d="secret")
    with pytest.raises(InvalidBotKey, match="private"):
        VerifyingKey.from_jwk(jwk)


@pytest.mark.parametrize(
    "jwk",
    [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}, {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
     {"kty": "OKP", "crv": "Ed25519", "x": "too-short"}],
)
def test_only_ed25519_and_strong_rsa_keys_are_accepted(jwk):
    with pytest.raises(InvalidBotKey):
        VerifyingKey.from_jwk(jwk)


def test_the_real_clock_is_used_by_default(bot_private_key, bound):
    now = int(time.time())
    headers = sign_headers(bot_private_key, authority="pub.example", created=now, expires=now + 60)
    verify_request(request(headers), bound)
