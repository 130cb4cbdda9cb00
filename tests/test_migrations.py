"""Migrations are the one way the schema is built (SPEC §2).

Each test works on a scratch database of the current backend (a temporary SQLite file, or a
scratch PostgreSQL database in the PostgreSQL pass), never on the session database that the
other tests share: upgrade → downgrade to base → upgrade must work, and autogenerate must find
nothing in the models that the migrations lack, so a forgotten migration fails CI.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from pprint import pformat

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from ais.config import Settings
from ais.db import migrate
from ais.db.urls import sync_url
from ais.models import Base

BACKEND = os.environ.get("AIS_TEST_DB", "postgres")
ADMIN_DSN = os.environ.get("AIS_TEST_PG_ADMIN_DSN", "postgresql://root@127.0.0.1:5432/test")
MODEL_TABLES = set(Base.metadata.tables)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Settings]:
    if BACKEND == "sqlite":
        url = f"sqlite:///{tmp_path}/migrations.db"
        yield _settings(url, tmp_path)
        return
    name = f"ais_test_migrations_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _settings(f"{ADMIN_DSN.rsplit('/', 1)[0]}/{name}", tmp_path)
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _settings(url: str, data_dir: Path) -> Settings:
    return Settings(_env_file=None, ais_env="development", ais_data_dir=data_dir, database_url=url)


def _tables(settings: Settings) -> set[str]:
    engine = create_engine(sync_url(settings.effective_database_url))
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_one_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config(Settings(_env_file=None)))
    assert len(script.get_heads()) == 1, f"several migration heads: {script.get_heads()}"


def test_upgrade_downgrade_upgrade(scratch: Settings) -> None:
    migrate.upgrade(scratch)
    assert MODEL_TABLES <= _tables(scratch)

    migrate.downgrade(scratch, "base")
    assert _tables(scratch) <= {"alembic_version"}

    migrate.upgrade(scratch)
    assert MODEL_TABLES <= _tables(scratch)


def ours(name: str | None, type_: str, parent_names: object) -> bool:
    """procrastinate's own tables (PostgreSQL) are its schema, applied by the job_queue revision."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def test_models_and_migrations_agree(scratch: Settings) -> None:
    migrate.upgrade(scratch)
    engine = create_engine(sync_url(scratch.effective_database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": ours})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert not diff, (
        "the models differ from the migrations (while pre-release: `make migration`):\n" + pformat(diff)
    )
