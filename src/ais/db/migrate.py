"""Running Alembic from code: `ais db upgrade`, `ais serve` in embedded mode, and the tests."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ais.config import Settings

_ROOT = Path(__file__).resolve().parents[3]
VERSION_TABLE = "alembic_version"


def alembic_config(settings: Settings) -> Config:
    config = Config(str(_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(_ROOT / "migrations"))
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)


@lru_cache(maxsize=1)
def code_heads() -> frozenset[str]:
    """The head revision(s) of the migrations this code ships: what a usable database is at."""
    script = ScriptDirectory(str(_ROOT / "migrations"))
    return frozenset(script.get_heads())


def database_revisions(connection: Connection) -> frozenset[str]:
    """The revision(s) the database is at; empty when it was never migrated. Read directly
    (Alembic's MigrationContext would log two lines per readiness probe)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return frozenset()
    return frozenset(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


async def live_revisions(engine: AsyncEngine) -> frozenset[str]:
    """Connect, prove the database answers, and read its revision(s) (the readiness probe)."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        return await connection.run_sync(database_revisions)
