"""Opaque keyset cursors over (created_at, id) on the wire, and the page size limits. The SQL side
of keyset pagination is `ais.db.keyset`."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ais.errors import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def encode_cursor(created_at: datetime, row_id: uuid.UUID | str) -> str:
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_keyed_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """(time, key) from a cursor this API wrote; 422 for anything else. The time must carry its
    zone: PostgreSQL cannot compare a naive one with the stored UTC times (that was a 500)."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, key = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None or not key or not key.isprintable():
            raise ValueError("naive time or bad key")
        return moment, key
    except ValueError as exc:
        raise _invalid_cursor() from exc


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    decoded = decode_keyed_cursor(cursor)
    if decoded is None:
        return None
    try:
        return decoded[0], uuid.UUID(decoded[1])
    except ValueError as exc:
        raise _invalid_cursor() from exc


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed("The cursor is not valid.", details={"errors": [
        {"field": "cursor", "message": "not a cursor returned by this API"}]})


def next_cursor(rows: Sequence[Any], limit: int) -> str | None:
    if len(rows) < limit:
        return None
    last = rows[-1]
    return encode_cursor(last.created_at, last.id)
