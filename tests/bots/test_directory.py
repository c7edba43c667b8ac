"""Key directories fetched over HTTPS: certificate verified, cached by HTTP caching headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from licensing_api.bots.directory import (
    DEFAULT_FRESH_SECONDS,
    MAX_FRESH_SECONDS,
    MIN_FRESH_SECONDS,
    DirectoryError,
    KeyDirectoryFetcher,
    directory_ssl_context,
    directory_url_of,
    fresh_until,
    parse_directory,
)
from tests.standards.signing import public_jwk_of, thumbprint_of

NOW = datetime(2031, 12, 31, 23, 59, tzinfo=UTC)


async def test_the_directory_is_fetched_over_https_from_a_trusted_ca(directory_server, fetcher, bot_key):
    directory_server.keys = [public_jwk_of(bot_key), {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]
    document = await fetcher.fetch(directory_server.directory_url, now=NOW)
    assert [key.thumbprint for key in document.keys] == [thumbprint_of(public_jwk_of(bot_key))]  # EC skipped
    assert document.fresh_until == NOW + timedelta(seconds=3600)


async def test_a_certificate_from_an_untrusted_ca_is_refused(directory_server, bot_key):
    directory_server.keys = [public_jwk_of(bot_key)]
    system_trust_only = KeyDirectoryFetcher(directory_ssl_context(None))
    try:
        with pytest.raises(DirectoryError, match="could not be fetched"):
            await system_trust_only.fetch(directory_server.directory_url)
    finally:
        await system_trust_only.aclose()


async def test_an_unchanged_directory_answers_304_to_its_etag(directory_server, fetcher, bot_key):
    directory_server.keys, directory_server.etag = [public_jwk_of(bot_key)], '"v1"'
    first = await fetcher.fetch(directory_server.directory_url, now=NOW)
    again = await fetcher.fetch(directory_server.directory_url, first.etag, now=NOW)
    assert first.etag == '"v1"' and again.not_modified and again.keys == ()


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"cache-control": "max-age=600"}, 600),
        ({"cache-control": "public, s-maxage=900, max-age=600"}, 900),
        ({"cache-control": "no-cache"}, MIN_FRESH_SECONDS),
        ({"cache-control": "max-age=5"}, MIN_FRESH_SECONDS),
        ({"cache-control": "max-age=99999999"}, MAX_FRESH_SECONDS),
        ({"expires": "Thu, 01 Jan 2032 01:59:00 GMT", "date": "Wed, 31 Dec 2031 23:59:00 GMT"}, 7200),
        ({"expires": "0"}, MIN_FRESH_SECONDS),
        ({}, DEFAULT_FRESH_SECONDS),
    ],
)
def test_freshness_follows_the_caching_headers(headers, seconds):
    assert fresh_until(httpx.Headers(headers), NOW) == NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("https://Bot.Example", "https://bot.example/.well-known/http-message-signatures-directory"),
        ("https://bot.example/", "https://bot.example/.well-known/http-message-signatures-directory"),
        ("https://bot.example:8443/keys.json", "https://bot.example:8443/keys.json"),
    ],
)
def test_a_registered_directory_url_is_normalised(given, url):
    assert directory_url_of(given) == url


@pytest.mark.parametrize("given", ["http://bot.example", "https://bot.example/?x=1", "ftp://x", "https://"])
def test_only_plain_https_directory_urls_are_accepted(given):
    with pytest.raises(DirectoryError):
        directory_url_of(given)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"keys": {}}', b'{"keys": [{"kty": "EC"}]}'])
def test_a_directory_without_usable_keys_is_an_error(body):
    with pytest.raises(DirectoryError):
        parse_directory(body)
