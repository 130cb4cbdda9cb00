"""Engine and session factory. Sessions never commit on their own: the request or job does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from ais.config import Settings
from ais.db.fair_pool import FairAsyncQueuePool
from ais.db.urls import async_url, is_sqlite


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.effective_database_url
    if is_sqlite(url):
        return _sqlite_engine(url)
    return create_async_engine(
        async_url(url),
        poolclass=FairAsyncQueuePool,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # No ping before every checkout (a round trip per request): a connection that died is
        # detected by its first statement, invalidated with the whole pool, and that request
        # answers 503 "retry" (ais.http.errors); recycling bounds a connection's age.
        pool_pre_ping=False,
        pool_recycle=900,
        pool_timeout=settings.db_pool_timeout_seconds,
        # Statement parameters (IPs, user agents, e-mails) stay out of error messages and so out
        # of logged tracebacks and Sentry.
        hide_parameters=True,
        connect_args={
            # A database that accepts connections and never answers (a hung host, a partition)
            # is bounded on the client side too: the connect, and every statement a little after
            # the server's own statement_timeout, which fires first while the server is alive.
            "timeout": settings.db_connect_timeout_seconds,
            "command_timeout": settings.db_statement_timeout_seconds + 2,
            "server_settings": {
                "application_name": "ais",
                # A lock wait longer than this is answered as "busy, retry" (503), never a hang.
                "lock_timeout": "5000",
                "statement_timeout": str(int(settings.db_statement_timeout_seconds * 1000)),
                "timezone": "UTC",
            },
        },
    )


def _sqlite_engine(url: str) -> AsyncEngine:
    database = async_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # SQLite has one writer; a single pooled connection serialises the embedded server's
    # transactions instead of failing them with "database is locked".
    engine = create_async_engine(async_url(url), poolclass=FairAsyncQueuePool, pool_size=1, max_overflow=0,
                                 pool_timeout=60, hide_parameters=True)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def on_postgresql(session: AsyncSession) -> bool:
    """Whether the session's database is PostgreSQL, where a hot path takes its one-statement form
    (SQLite gets the portable form of the same work)."""
    return session.get_bind().dialect.name == "postgresql"


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def create_autocommit_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose every statement commits on its own (autocommit), so that a statement costs
    its own round trip alone, not BEGIN, the statement and COMMIT: a request that only reads
    (search; each statement sees what was committed when it started), or one write that must be
    durable by itself before anything else happens (the webhook inbox storing an event). Never
    for work of several writes: no unit of work owns these sessions, and an after-commit hook
    registered on one is refused."""
    return async_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False,
                              autoflush=False)
