"""`licensing-api db upgrade`: apply the Alembic migrations to DATABASE_URL."""

from __future__ import annotations

from pathlib import Path

import typer
from alembic import command
from alembic.config import Config

from licensing_api.cli_support import fail_on_config_errors
from licensing_api.settings import load_settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # a source checkout or editable install


def find_alembic_ini() -> Path:
    """`alembic.ini` of the working directory (container image) or of the source checkout."""
    for candidate in (Path.cwd() / "alembic.ini", PROJECT_ROOT / "alembic.ini"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("alembic.ini not found; run from the project (or image) root")

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def alembic_config(database_url: str) -> Config:
    config = Config(str(find_alembic_ini()))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade_database(database_url: str) -> None:
    if database_url.startswith("sqlite+aiosqlite:///"):
        path = database_url.removeprefix("sqlite+aiosqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), "head")


@db_app.command("upgrade")
def upgrade() -> None:
    """Create or migrate the schema to the newest revision."""
    with fail_on_config_errors():
        settings = load_settings()
        upgrade_database(settings.database_url)
    typer.echo("database is at the newest schema revision")
