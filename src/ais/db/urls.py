"""Database URLs as operators write them → the async driver this app uses."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url


def async_url(url: str) -> URL:
    """`postgresql://…` (any driver suffix) → asyncpg; `sqlite:///…` → aiosqlite."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return _libpq_query_for_asyncpg(parsed.set(drivername="postgresql+asyncpg"))
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    raise ValueError(f"unsupported database {backend!r}: use PostgreSQL or SQLite")


def sync_url(url: str) -> URL:
    """The same database through a synchronous driver (backup/restore tooling, pg_dump URLs)."""
    parsed = make_url(url)
    if parsed.get_backend_name() in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    return parsed.set(drivername="sqlite")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _libpq_query_for_asyncpg(url: URL) -> URL:
    """Operators write libpq's `?sslmode=require`; asyncpg calls the same option `ssl`."""
    query = dict(url.query)
    if "sslmode" in query:
        query.setdefault("ssl", query.pop("sslmode"))
    return url.set(query=query)
