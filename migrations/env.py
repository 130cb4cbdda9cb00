"""Alembic environment: the same migrations run on PostgreSQL and SQLite (batch mode)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from ais.config import Settings
from ais.db.engine import create_engine
from ais.models import Base
from ais.db.urls import async_url

config = context.config
target_metadata = Base.metadata


def _settings() -> Settings:
    explicit = config.attributes.get("settings")
    return explicit if isinstance(explicit, Settings) else Settings()


def run_migrations_offline() -> None:
    context.configure(
        url=str(async_url(_settings().effective_database_url)),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate leaves procrastinate's tables alone: its schema comes with the job_queue revision."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=_ours,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_settings())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    asyncio.run(_run_async())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
