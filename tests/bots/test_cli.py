"""`licensing-api bots add --customer C (--directory URL | --jwk FILE)`, `bots list`, `bots delete`."""

from __future__ import annotations

import json
import uuid

from licensing_api.bots.models import Bot
from tests.access.helpers import new_crawler
from tests.support.cli import run_cli
from tests.standards.signing import public_jwk_of, thumbprint_of


cli = run_cli


async def test_bots_add_with_a_jwk_file_then_list_and_delete(resources, settings, tmp_path, bot_key):
    crawler = await new_crawler(resources)
    path = tmp_path / "bot.jwks"
    path.write_text(json.dumps({"keys": [public_jwk_of(bot_key)]}))
    added = cli("bots", "add", "--customer", str(crawler.customer_id), "--jwk", str(path), "--name", "mybot",
                settings=settings)
    assert added.returncode == 0, added.stderr
    keyid = thumbprint_of(public_jwk_of(bot_key))
    assert keyid in added.stdout
    bot_id = added.stdout.split()[1]
    listed = cli("bots", "list", "--customer", str(crawler.customer_id), settings=settings)
    assert listed.stdout.split() == [bot_id, "mybot", "uploaded", "keys", keyid]
    deleted = cli("bots", "delete", bot_id, settings=settings)
    assert deleted.returncode == 0, deleted.stderr
    async with resources.sessionmaker() as session:
        assert (await session.get(Bot, uuid.UUID(bot_id))).status == "revoked"


async def test_bots_add_with_a_directory_trusts_only_the_configured_ca(
    resources, settings, directory_server, test_ca, bot_key
):
    crawler = await new_crawler(resources)
    directory_server.keys = [public_jwk_of(bot_key)]
    args = ("bots", "add", "--customer", str(crawler.customer_id), "--directory", directory_server.base_url)
    untrusted = cli(*args, settings=settings)
    assert untrusted.returncode == 2
    assert untrusted.stderr.strip().splitlines()[-1].startswith("error: key directory https://localhost:")
    added = cli(*args, settings=settings, extra_env={"BOT_DIRECTORY_CA_FILE": str(test_ca.ca_file)})
    assert added.returncode == 0, added.stderr
    assert thumbprint_of(public_jwk_of(bot_key)) in added.stdout
