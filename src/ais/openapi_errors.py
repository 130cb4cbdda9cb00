"""OpenAPI declarations of the error contract, so /docs shows every code a route can answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ais.errors import ALL_ERRORS


class ErrorBody(BaseModel):
    code: str = Field(examples=["SEATS_UNAVAILABLE"])
    message: str = Field(examples=["Not enough seats are available in this cabin."])
    correlationId: str = Field(examples=["5f0c2a8e4b0d4f7e9d8c1b2a3f4e5d6c"])
    retryable: bool = Field(examples=[False])
    details: dict[str, Any] = Field(default_factory=dict)


_BY_CODE = {cls.code: cls for cls in ALL_ERRORS}
_EXTRA = {"METHOD_NOT_ALLOWED": (405, "This method is not allowed on this path.", False)}


def _describe(code: str) -> tuple[int, str, bool]:
    if code in _BY_CODE:
        cls = _BY_CODE[code]
        return cls.status_code, cls.default_message, cls.retryable
    return _EXTRA[code]


def responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with the contract body and one example per code.
    Every route may also answer VALIDATION_ERROR, PAYLOAD_TOO_LARGE (the body limit applies to
    every request), SERVICE_UNAVAILABLE and INTERNAL_ERROR."""
    grouped: dict[int, list[tuple[str, str, bool]]] = {}
    for code in (*codes, "VALIDATION_ERROR", "PAYLOAD_TOO_LARGE", "SERVICE_UNAVAILABLE", "INTERNAL_ERROR"):
        status, message, retryable = _describe(code)
        entry = (code, message, retryable)
        if entry not in grouped.setdefault(status, []):
            grouped[status].append(entry)
    result: dict[int | str, dict[str, Any]] = {}
    for status, entries in sorted(grouped.items()):
        result[status] = {
            "model": ErrorBody,
            "description": " · ".join(code for code, _, _ in entries),
            "content": {
                "application/json": {
                    "examples": {
                        code: {
                            "summary": code,
                            "value": {
                                "code": code,
                                "message": message,
                                "correlationId": "5f0c2a8e4b0d4f7e9d8c1b2a3f4e5d6c",
                                "retryable": retryable,
                                "details": {},
                            },
                        }
                        for code, message, retryable in entries
                    }
                }
            },
        }
    return result
