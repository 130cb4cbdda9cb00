"""The sandbox's own storage: a small SQLite database, apart from AIS's.

The sandbox plays a remote service, so its state never shares AIS's database, metadata or
migrations: a payment call made while AIS holds a database connection can never wait on it,
and wiping AIS's data does not make "Stripe" forget its charges.

- `database_path` given: a SQLite file (WAL). It survives restarts (pending deliveries
  resume) and is shared by every worker process of the embedded server.
- `database_path=None`: an in-memory database on one connection, for tests.

Every unit of work is one `BEGIN IMMEDIATE` transaction taken behind an in-process lock:
SQLite's write lock serialises processes (waiting up to `busy_timeout`), the asyncio lock
serialises the coroutines of one process. Read-check-write sequences such as "refund at
most what remains" are therefore atomic without row locks. Throughput is irrelevant here;
correctness under concurrent requests is not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, Float, Index, Integer, MetaData, String, Table, event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

SCHEMA_VERSION = 1

# Deliberately not ais.db.base.Base.metadata: AIS's migrations must never see these tables.
metadata = MetaData()

objects = Table(
    "objects",
    metadata,
    Column("id", String, primary_key=True),
    Column("object", String, nullable=False),
    Column("created", Integer, nullable=False),
    # Copied from the body for the expiry sweep; the body is the truth.
    Column("status", String, nullable=True),
    Column("expires_at", Integer, nullable=True),
    Column("body", JSON, nullable=False),
    # What the sandbox keeps but Stripe does not show on the object (e.g. line items).
    Column("internal", JSON, nullable=False),
    Index("ix_objects_sweep", "object", "status", "expires_at"),
)

events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String, nullable=False, unique=True),
    Column("type", String, nullable=False, index=True),
    Column("created", Integer, nullable=False),
    Column("body", JSON, nullable=False),
    sqlite_autoincrement=True,
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("event_id", String, primary_key=True),
    Column("url", String, nullable=False),
    Column("status", String, nullable=False),  # pending | succeeded | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=True),
    Column("leased_until", Float, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String, nullable=True),
    Column("last_attempt_at", Float, nullable=True),
    Column("delivered_at", Float, nullable=True),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String, nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Column("response_excerpt", String, nullable=True),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String, primary_key=True),  # a hash of the secret key: keys are per account
    Column("key", String, primary_key=True),
    Column("method", String, nullable=False),
    Column("path", String, nullable=False),
    Column("fingerprint", String, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("body", JSON, nullable=False),
    Column("request_id", String, nullable=False),
    Column("created", Float, nullable=False, index=True),
)


class SandboxStorageError(RuntimeError):
    """The sandbox database cannot be used (e.g. it was written by another schema version)."""


class Store:
    def __init__(self, database_path: Path | None) -> None:
        self.database_path = database_path
        self._engine: AsyncEngine | None = None
        self._lock = asyncio.Lock()

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise SandboxStorageError("the sandbox store is not open")
        return self._engine

    async def open(self) -> None:
        if self._engine is not None:
            return
        engine = _create_engine(self.database_path)
        try:
            async with engine.begin() as conn:
                version = (await conn.exec_driver_sql("PRAGMA user_version")).scalar_one()
                has_tables = (await conn.exec_driver_sql(
                    "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='objects'")).scalar_one()
                if has_tables and version != SCHEMA_VERSION:
                    raise SandboxStorageError(
                        f"the sandbox database {self.database_path} has schema version {version}, "
                        f"this code needs {SCHEMA_VERSION}; delete the file to start a fresh sandbox"
                    )
                await conn.run_sync(metadata.create_all)
                await conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One unit of work: committed when the block ends, rolled back if it raises."""
        async with self._lock, self.engine.begin() as conn:
            yield conn


def _create_engine(database_path: Path | None) -> AsyncEngine:
    if database_path is None:
        engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
    else:
        database_path.parent.mkdir(parents=True, exist_ok=True)
        # One pooled connection: the in-process lock already allows a single unit of work.
        engine = create_async_engine(f"sqlite+aiosqlite:///{database_path.as_posix()}",
                                     pool_size=1, max_overflow=0, pool_timeout=60)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN, so that it can be BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if database_path is not None:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: a deferred transaction that reads, then writes, can
        # fail with SQLITE_BUSY instead of waiting when another process wrote in between.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
