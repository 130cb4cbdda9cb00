"""Scratch PostgreSQL databases: `ais_bench_<random>`, migrated by the code under test (its own
`ais db upgrade`), dropped at the end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from harness.codebase import Codebase, clean_environment

ADMIN_DSN = os.environ.get("AIS_BENCH_ADMIN_DSN", "postgresql://root@127.0.0.1:5432/test")


async def connect(dsn: str, patience: float = 60.0, **kwargs: Any) -> Any:
    """An asyncpg connection, waiting while the server has no connection slot free: PostgreSQL is
    shared (other test runs, and the servers under test keep their pools), so a slot freeing up in
    a few seconds is normal, not a reason to abandon the run."""
    import asyncpg

    deadline = time.monotonic() + patience
    delay = 0.25
    while True:
        try:
            return await asyncpg.connect(dsn, **kwargs)
        except (asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError):
            if time.monotonic() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(2.0, delay * 2)


def dsn_for(database: str) -> str:
    return f"{ADMIN_DSN.rsplit('/', 1)[0]}/{database}"


def database_name(dsn: str) -> str:
    return dsn.rsplit("/", 1)[1]


def check_local(dsn: str) -> None:
    host = urlparse(dsn).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"refusing to benchmark against a non-local database host {host!r}")


def cli_environment(dsn: str, work_dir: Path) -> dict[str, str]:
    """What the `ais` command needs to act on a scratch database (and nothing of the caller's)."""
    return {**clean_environment(), "AIS_ENV": "development", "DATABASE_URL": dsn, "AIS_DATA_DIR": str(work_dir / "cli"),
            "LOG_LEVEL": "WARNING", "RUN_JOBS_IN_PROCESS": "false"}


@contextlib.asynccontextmanager
async def scratch_database(codebase: Codebase, work_dir: Path, keep: bool = False) -> AsyncIterator[str]:
    """A fresh database with the schema of `codebase` (migrated by its own command); dropped afterwards."""
    check_local(ADMIN_DSN)
    name = f"ais_bench_{secrets.token_hex(4)}"
    admin = await connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = dsn_for(name)
    try:
        await asyncio.to_thread(codebase.ais, ["db", "upgrade"], cli_environment(dsn, work_dir), work_dir)
        yield dsn
    finally:
        if keep:
            print(f"(kept scratch database {name})")
        else:
            admin = await connect(ADMIN_DSN)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()

