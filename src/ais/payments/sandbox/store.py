"""The sandbox's own storage, apart from AIS's.

The sandbox plays a remote service, so its state never shares AIS's metadata or migrations: a
payment call made while AIS holds a database connection can never wait on it, and wiping AIS's
data does not make "Stripe" forget its charges.

Two stores, one set of tables (`tables.py`):

- **SQLite** (the default: a file in the data dir; in memory for tests). Every unit of work is
  one `BEGIN IMMEDIATE` transaction behind an in-process lock: SQLite's write lock serialises
  processes, the asyncio lock serialises the coroutines of one process, so read-check-write
  sequences are atomic without row locks. Simple and correct, one call at a time.
- **PostgreSQL** (`SANDBOX_DATABASE_URL`, for load). Units of work run in parallel at READ
  COMMITTED; what must be atomic says so itself: the object it changes is read `FOR UPDATE`
  (a refund locks its charge, a completion its session), idempotency keys take a transaction
  advisory lock, delivery claims skip rows another process holds. The tables live in their own
  schema (`stripe_sandbox` unless told otherwise), created here, never by AIS's migrations.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from ais.db.urls import async_url
from ais.payments.sandbox.config import DEFAULT_SCHEMA
from ais.payments.sandbox.tables import SCHEMA_VERSION, metadata, schema_version

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Any constant: it only has to keep two sandboxes opening the same schema from racing its DDL.
_DDL_LOCK = 0x5354524950455342  # "STRIPESB"


class SandboxStorageError(RuntimeError):
    """The sandbox store cannot be used (unsupported URL, or written by another schema version)."""


def is_postgres_url(url: str | None) -> bool:
    return url is not None and make_url(url).get_backend_name() in ("postgresql", "postgres")


class Store:
    """`url=None`: SQLite in memory (tests); `sqlite:///path`: a SQLite file; `postgresql://…`:
    PostgreSQL, tables in `schema`."""

    def __init__(self, url: str | None, *, schema: str = DEFAULT_SCHEMA, pool_size: int = 10) -> None:
        try:
            backend = None if url is None else make_url(url).get_backend_name()
        except ArgumentError:
            raise SandboxStorageError(f"{url!r} is not a database URL (sqlite:///PATH or postgresql://…)") from None
        if backend not in (None, "sqlite", "postgresql", "postgres"):
            raise SandboxStorageError(f"the sandbox store must be SQLite or PostgreSQL, not {backend!r}")
        if not _SCHEMA_NAME.match(schema):
            raise SandboxStorageError(f"{schema!r} is not a plain lower-case schema name")
        self.url = url
        self.schema = schema
        self.pool_size = pool_size
        self.is_postgres = is_postgres_url(url)
        self._engine: AsyncEngine | None = None
        # SQLite only: one unit of work at a time per process (see the module docstring).
        self._lock: asyncio.Lock | None = None if self.is_postgres else asyncio.Lock()

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise SandboxStorageError("the sandbox store is not open")
        return self._engine

    @property
    def shown(self) -> str:
        """Where the state lives, for logs (no password)."""
        if self.url is None:
            return ":memory:"
        shown = make_url(self.url).render_as_string(hide_password=True)
        return f"{shown} (schema {self.schema})" if self.is_postgres else shown

    async def open(self) -> None:
        if self._engine is not None:
            return
        engine = self._create_engine()
        try:
            async with engine.begin() as conn:
                await (self._prepare_postgres(conn) if self.is_postgres else self._prepare_sqlite(conn))
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
        serial: AbstractAsyncContextManager[Any] = self._lock if self._lock is not None else nullcontext()
        async with serial, self.engine.begin() as conn:
            yield conn

    async def _prepare_sqlite(self, conn: AsyncConnection) -> None:
        version = (await conn.exec_driver_sql("PRAGMA user_version")).scalar_one()
        has_tables = (await conn.exec_driver_sql(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='objects'")).scalar_one()
        if has_tables and version != SCHEMA_VERSION:
            raise SandboxStorageError(
                f"the sandbox database {self.shown} has schema version {version}, this code needs "
                f"{SCHEMA_VERSION}; delete the file to start a fresh sandbox")
        await conn.run_sync(metadata.create_all)
        await conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")

    async def _prepare_postgres(self, conn: AsyncConnection) -> None:
        # DDL is transactional on PostgreSQL: under this lock, a second sandbox starting at the
        # same time waits and then finds everything in place.
        await conn.execute(select(text(f"pg_advisory_xact_lock({_DDL_LOCK})")))
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
        await conn.run_sync(schema_version.metadata.create_all)
        found = (await conn.execute(select(schema_version.c.version))).scalar()
        if found is None:
            await conn.execute(insert(schema_version).values(version=SCHEMA_VERSION))
        elif found != SCHEMA_VERSION:
            raise SandboxStorageError(
                f"the sandbox schema {self.shown} has version {found}, this code needs {SCHEMA_VERSION}; "
                f'drop it (DROP SCHEMA "{self.schema}" CASCADE) to start a fresh sandbox')
        await conn.run_sync(metadata.create_all)

    def _create_engine(self) -> AsyncEngine:
        if self.is_postgres:
            assert self.url is not None
            return create_async_engine(
                async_url(self.url),
                pool_size=self.pool_size,
                max_overflow=0,
                pool_timeout=30,
                pool_recycle=900,
                # The tables carry no schema; every statement names the sandbox's.
                execution_options={"schema_translate_map": {None: self.schema}},
                connect_args={"server_settings": {
                    "application_name": "ais-sandbox",
                    # A lock held this long is a bug or a stuck client: answer 500 (the SDK
                    # retries with the same idempotency key) instead of hanging.
                    "lock_timeout": "10000",
                    "statement_timeout": "30000",
                }},
            )
        return _sqlite_engine(None if self.url is None else make_url(self.url).database)


def _sqlite_engine(database: str | None) -> AsyncEngine:
    if database in (None, "", ":memory:"):
        engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
        on_disk = False
    else:
        assert database is not None
        path = Path(database)
        path.parent.mkdir(parents=True, exist_ok=True)
        # One pooled connection: the in-process lock already allows a single unit of work.
        engine = create_async_engine(f"sqlite+aiosqlite:///{path.as_posix()}", pool_size=1, max_overflow=0,
                                     pool_timeout=60)
        on_disk = True

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN, so that it can be BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if on_disk:
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

