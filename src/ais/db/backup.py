"""Backup and restore of the database (`ais backup FILE`, `ais restore FILE`).

PostgreSQL: `pg_dump --format=custom` and `pg_restore --clean --if-exists --no-owner --no-acl
--single-transaction` (a failed restore changes nothing); the password travels in PGPASSWORD, never
on the command line, which `ps` shows. SQLite: the online backup API, consistent even while the
server writes.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from ais.db.urls import is_sqlite


class BackupError(Exception):
    """The backup or restore did not happen; the message says why in one line."""


def backup(url: str, file: Path) -> None:
    """Write a backup of the database at `url` to `file`, which appears only when complete."""
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(f".{file.name}.partial-{secrets.token_hex(4)}")
    try:
        if is_sqlite(url):
            source = _sqlite_path(url)
            if not source.exists():
                raise BackupError(f"No database at {source}.")
            _sqlite_copy(source, partial)
        else:
            dsn, env = _libpq(url)
            _pg_tool(["pg_dump", "--format=custom", f"--file={partial}", f"--dbname={dsn}"], env)
        partial.chmod(0o600)  # it holds password hashes and personal data
        os.replace(partial, file)  # a half-written dump never takes the backup's name
    finally:
        partial.unlink(missing_ok=True)


def check_backup(url: str, file: Path) -> None:
    """Refuse a file that is not a backup for this kind of database, before anything is replaced."""
    if is_sqlite(url):
        _check_sqlite_backup(file)
    else:
        _dsn, env = _libpq(url)
        _pg_tool(["pg_restore", "--list", str(file)], env)


def restore(url: str, file: Path) -> None:
    """Replace the contents of the database at `url` with the backup `file`."""
    if is_sqlite(url):
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(file, target)
        return
    dsn, env = _libpq(url)
    _pg_tool(
        ["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-acl", "--single-transaction",
         f"--dbname={dsn}", str(file)],
        env,
    )


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy URL (any driver suffix) → a libpq URL for pg_dump/pg_restore, and the
    environment carrying the password."""
    parsed = make_url(url)
    query = dict(parsed.query)
    ssl = query.pop("ssl", None)  # asyncpg's spelling of libpq's sslmode
    if ssl and "sslmode" not in query:
        query["sslmode"] = "require" if ssl in ("true", "True") else ssl
    env = {"PGPASSWORD": str(parsed.password)} if parsed.password else {}
    # URL.set(password=None) would keep the password; build the URL afresh without it.
    libpq = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=query,
    )
    return libpq.render_as_string(hide_password=False), env


def _pg_tool(args: list[str], env: dict[str, str]) -> None:
    try:
        result = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError:
        raise BackupError(
            f"{args[0]} not found: install the PostgreSQL client tools (same major version as the server or newer)."
        ) from None
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if "error:" in line] or lines or [f"exit code {result.returncode}"]
        raise BackupError(f"{args[0]} failed: {errors[0]}")


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("DATABASE_URL names no SQLite file.")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _check_sqlite_backup(file: Path) -> None:
    try:
        with sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True) as check:
            ok = check.execute("PRAGMA quick_check").fetchone()
        check.close()
    except sqlite3.DatabaseError:
        ok = None
    if not ok or ok[0] != "ok":
        raise BackupError(f"{file} is not a SQLite backup.")
