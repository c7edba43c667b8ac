"""`licensing-api keys bind-bot-key`: an operator binds a bot's public key to an API key."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from licensing_api.keys.models import ApiKey
from tests.access.helpers import new_crawler
from tests.support.cli import run_cli
from tests.standards.signing import public_jwk_of, thumbprint_of


cli = run_cli


async def stored_bot_key(resources, key_id):
    async with resources.sessionmaker() as session:
        return (await session.get(ApiKey, key_id)).bot_public_key


async def test_bind_bot_key_stores_the_public_jwk_and_prints_its_keyid(resources, settings, tmp_path):
    crawler = await new_crawler(resources)
    jwk = public_jwk_of(Ed25519PrivateKey.generate())
    path = tmp_path / "bot.jwk"
    path.write_text(json.dumps({"keys": [jwk]}))
    result = cli("keys", "bind-bot-key", str(crawler.key_id), "--jwk", str(path), settings=settings)
    assert result.returncode == 0, result.stderr
    assert thumbprint_of(jwk) in result.stdout
    assert await stored_bot_key(resources, crawler.key_id) == jwk


async def test_bind_bot_key_refuses_a_private_key_in_one_line(resources, settings, tmp_path):
    crawler = await new_crawler(resources)
    path = tmp_path / "private.jwk"
    path.write_text(json.dumps(dict(public_jwk_of(Ed25519PrivateKey.generate()), d="c2VjcmV0")))
    result = cli("keys", "bind-bot-key", str(crawler.key_id), "--jwk", str(path), settings=settings)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "private key" in result.stderr
    assert await stored_bot_key(resources, crawler.key_id) is None


async def test_bind_bot_key_clear_unbinds(resources, settings, tmp_path):
    crawler = await new_crawler(resources)
    path = tmp_path / "bot.jwk"
    path.write_text(json.dumps(public_jwk_of(Ed25519PrivateKey.generate())))
    assert cli("keys", "bind-bot-key", str(crawler.key_id), "--jwk", str(path), settings=settings).returncode == 0
    result = cli("keys", "bind-bot-key", str(crawler.key_id), "--clear", settings=settings)
    assert result.returncode == 0, result.stderr
    assert await stored_bot_key(resources, crawler.key_id) is None
