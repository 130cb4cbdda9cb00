"""Running Alembic from code: `ais db upgrade`, `ais serve` in embedded mode, and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from ais.config import Settings

_ROOT = Path(__file__).resolve().parents[3]


def alembic_config(settings: Settings) -> Config:
    config = Config(str(_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(_ROOT / "migrations"))
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)
