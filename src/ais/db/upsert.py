"""`INSERT … ON CONFLICT DO NOTHING` for whichever database the session is on."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ais.db.engine import on_postgresql


def insert_ignore(session: AsyncSession, table: Any) -> Any:
    return (postgresql if on_postgresql(session) else sqlite).insert(table)


async def insert_if_absent(
    session: AsyncSession, table: Any, values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """Insert a row unless one with the same unique columns exists; True when this call inserted."""
    statement = (
        insert_ignore(session, table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_columns)
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]
