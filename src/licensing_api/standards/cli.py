"""`licensing-api keys bind-bot-key KEY_ID --jwk FILE` (registered in keys/cli.py) and
`licensing-api crawlers import FILE`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import typer

from licensing_api.cli_support import cli_resources, fail_on_config_errors, run
from licensing_api.db import session_scope
from licensing_api.settings import load_settings
from licensing_api.standards.bot_keys import bound_thumbprint, set_bot_key
from licensing_api.standards.crawler_list import (
    CrawlerListError,
    CrawlerListSource,
    import_crawler_list,
)
from licensing_api.standards.crawlers import BUNDLED_CRAWLER_LIST
from licensing_api.standards.webbotauth import InvalidBotKey


def bind_bot_key(
    key_id: uuid.UUID = typer.Argument(..., help="id of the API key"),
    jwk: Path | None = typer.Option(
        None, "--jwk", exists=True, dir_okay=False,
        help="the bot's Ed25519 public key: a JWK, or a JWKS holding exactly one key",
    ),
    clear: bool = typer.Option(False, "--clear", help="unbind: the key works unsigned again"),
) -> None:
    """Require Web Bot Auth signatures by a bot's public key on every request with this key."""
    if (jwk is None) == (not clear):
        raise typer.BadParameter("give --jwk FILE, or --clear")
    parsed = _read_jwk(jwk) if jwk is not None else None

    async def go() -> None:
        async with cli_resources() as resources:
            async with session_scope(resources.sessionmaker) as session:
                key = await set_bot_key(
                    session, resources.redis, resources.settings.redis_key_prefix, key_id, parsed
                )
        if parsed is None:
            typer.echo(f"key {key.id} ({key.prefix}…) no longer requires signed requests")
        else:
            typer.echo(f"key {key.id} ({key.prefix}…) now requires requests signed by "
                       f"keyid {bound_thumbprint(key)}")

    run(go())


def _read_jwk(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidBotKey(f"{path}: not a JSON file ({exc})") from None
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        if len(document["keys"]) != 1:
            raise InvalidBotKey(f"{path}: the JWKS holds {len(document['keys'])} keys; keep one")
        document = document["keys"][0]
    if not isinstance(document, dict):
        raise InvalidBotKey(f"{path}: a JWK is a JSON object")
    return document


crawlers_app = typer.Typer(help="The known AI crawler list.", no_args_is_help=True)


@crawlers_app.command("import")
def import_crawlers(
    robots_json: Path = typer.Argument(..., exists=True, dir_okay=False,
                                       help="robots.json of the ai.robots.txt project"),
    output: Path | None = typer.Option(
        None, "--output",
        help="file to write; default: CRAWLER_LIST_FILE, or the bundled list when unset",
    ),
    source_commit: str | None = typer.Option(None, help="upstream commit the file comes from"),
    source_date: str | None = typer.Option(None, help="date of that commit (YYYY-MM-DD)"),
) -> None:
    """Regenerate the crawler list from a newer robots.json; restart to use it."""
    with fail_on_config_errors():
        target = output or load_settings().crawler_list_file or BUNDLED_CRAWLER_LIST
        try:
            count = import_crawler_list(
                robots_json, target,
                CrawlerListSource(commit=source_commit, date=source_date),
            )
        except CrawlerListError as exc:
            raise typer.BadParameter(str(exc), param_hint="ROBOTS_JSON") from None
    typer.echo(f"{count} crawler names written to {target}")
