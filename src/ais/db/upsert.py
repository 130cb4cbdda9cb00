"""`INSERT … ON CONFLICT DO NOTHING` for whichever database the session is on."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ais.db.engine import on_postgresql


def insert_ignore(session: AsyncSession, table: Any) -> Any:
    return _dialect_insert(on_postgresql(session), table)


def _dialect_insert(postgres: bool, table: Any) -> Any:
    """The insert of the database's dialect, which has `on_conflict_do_nothing`."""
    return (postgresql if postgres else sqlite).insert(table)


async def insert_if_absent(
    session: AsyncSession, table: Any, values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """Insert a row unless one with the same unique columns exists; True when this call inserted."""
    statement = _insert_if_absent(on_postgresql(session), table, tuple(conflict_columns))
    result = await session.execute(statement, values)
    return bool(result.rowcount)  # type: ignore[attr-defined]


@functools.cache
def _insert_if_absent(postgres: bool, table: Any, conflict_columns: tuple[str, ...]) -> Any:
    """Built once: the row's values are the statement's parameters (the insert names the columns
    it is given), so each call skips building the statement and its cache key."""
    return _dialect_insert(postgres, table).on_conflict_do_nothing(index_elements=list(conflict_columns))
