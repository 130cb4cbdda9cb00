"""Correlation ids: taken from `X-Correlation-Id` when it is sane, generated otherwise."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

HEADER = "X-Correlation-Id"
_SAFE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def accept_or_generate(value: str | None) -> str:
    """The caller's id if it is short and printable (it ends up in logs), else a fresh one."""
    # fullmatch: with match() and "$", a trailing newline would slip through into logs and headers.
    if value and _SAFE.fullmatch(value):
        return value
    return new_correlation_id()


def current_correlation_id() -> str:
    value = _current.get()
    if value is None:
        value = new_correlation_id()
        _current.set(value)
    return value


def set_correlation_id(value: str) -> None:
    _current.set(value)
