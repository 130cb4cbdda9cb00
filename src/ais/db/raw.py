"""A prebuilt Core statement run on the asyncpg connection under a pooled SQLAlchemy connection,
for the busiest reads on PostgreSQL (search).

Through SQLAlchemy a statement costs about 200 µs of CPU; on the raw driver about 110 µs
(measured here, one small query each). The statement stays the Core one the SQLite pass runs: it
is compiled once per statement, its parameters go through their types' bind processing and its
columns through their result processing, so values come and go exactly as through SQLAlchemy.
What SQLAlchemy would do with a failure is kept too: a driver error is raised as a `DBAPIError`
(so `ais.db.errors` and the HTTP edge judge it as any other), and a connection the error closed
is invalidated, never handed back to the pool. Inside a transaction a failure aborts it, as
through SQLAlchemy: the caller rolls back (search reads in autocommit, outside any).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameters, in their positional order ($1, $2, …)
    binding: Any  # the SQLAlchemy compiled statement, which fills in the statement's own values
    bind: tuple[Processor, ...]
    result: tuple[Processor, ...]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = self.binding.construct_params(params)
        return [value if process is None else process(value)
                for process, value in zip(self.bind, (values[name] for name in self.names), strict=True)]

    def row(self, record: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(value if process is None else process(value)
                     for process, value in zip(self.result, record, strict=True))


@functools.cache
def _compiled(statement: Select[Any], dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    return _Compiled(
        sql=compiled.string,
        names=names,
        binding=compiled,
        bind=tuple(compiled.binds[name].type.bind_processor(dialect) for name in names),
        result=tuple(column.type.result_processor(dialect, None) for column in statement.selected_columns),
    )


async def fetch_all(connection: AsyncConnection, statement: Select[Any], params: Mapping[str, Any]
                    ) -> list[tuple[Any, ...]]:
    """The rows of `statement` (built once, kept: it is the cache key) with `params`, run on the
    raw asyncpg connection of `connection` (PostgreSQL only)."""
    compiled = _compiled(statement, connection.dialect)
    arguments = compiled.arguments(params)
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    try:
        records = await driver.fetch(compiled.sql, *arguments)
    except Exception as exc:
        closed = driver.is_closed()
        if closed:
            await connection.invalidate(exc)
        raise DBAPIError(compiled.sql, None, exc, hide_parameters=True, connection_invalidated=closed) from exc
    return [compiled.row(record) for record in records]
