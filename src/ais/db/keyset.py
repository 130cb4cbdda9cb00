"""Keyset pagination in SQL: newest first on (created_at, id), resuming after the last row seen.
No OFFSET scans, and stable under inserts. The wire side (opaque cursors) is `ais.http.pagination`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_


def newest_first_page(statement: Select[Any], model: Any, after: tuple[datetime, uuid.UUID] | None,
                      limit: int) -> Select[Any]:
    """`statement` ordered newest first on (created_at, id), resuming after a decoded cursor."""
    if after is not None:
        created_at, last_id = after
        statement = statement.where(or_(model.created_at < created_at,
                                        and_(model.created_at == created_at, model.id < last_id)))
    return statement.order_by(model.created_at.desc(), model.id.desc()).limit(limit)
