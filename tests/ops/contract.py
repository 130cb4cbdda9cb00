"""The error contract of SPEC §7, as assertions shared by the identity, ops and schemathesis tests."""

from __future__ import annotations

from typing import Any

import httpx

ERROR_KEYS = {"code", "message", "correlationId", "retryable", "details"}

# SPEC §7: code → (HTTP status, retryable).
SPEC_ERROR_CODES: dict[str, tuple[int, bool]] = {
    "VALIDATION_ERROR": (422, False),
    "UNAUTHORIZED": (401, False),
    "TOKEN_EXPIRED": (401, False),
    "FORBIDDEN": (403, False),
    "NOT_FOUND": (404, False),
    "SEATS_UNAVAILABLE": (409, False),
    "BOOKING_CONFLICT": (409, False),
    "INVALID_STATE_TRANSITION": (409, False),
    "BOOKING_EXPIRED": (409, False),
    "PAYMENT_FAILED": (402, False),
    "PAYMENT_REQUIRED": (402, False),
    "IDEMPOTENCY_KEY_REQUIRED": (400, False),
    "INVALID_SIGNATURE": (400, False),
    "IDEMPOTENCY_IN_PROGRESS": (409, True),
    "IDEMPOTENCY_PAYLOAD_MISMATCH": (422, False),
    "RATE_LIMITED": (429, True),
    "SERVICE_UNAVAILABLE": (503, True),
    "PAYLOAD_TOO_LARGE": (413, False),
    "INTERNAL_ERROR": (500, False),
}
# Framework answers that have no row in the SPEC table but keep the same body.
EXTRA_CODES: dict[str, tuple[int, bool]] = {"METHOD_NOT_ALLOWED": (405, False)}
KNOWN_CODES = {**SPEC_ERROR_CODES, **EXTRA_CODES}


def check_error_body(status: int, headers: Any, body: Any) -> list[str]:
    """Every way `body` breaks the contract (empty when it keeps it). Shared with schemathesis,
    whose responses are not httpx responses."""
    problems: list[str] = []
    if not isinstance(body, dict):
        return [f"body is not a JSON object: {body!r}"[:300]]
    if set(body) != ERROR_KEYS:
        problems.append(f"keys {sorted(body)} != {sorted(ERROR_KEYS)}")
    code = body.get("code")
    if code not in KNOWN_CODES:
        problems.append(f"unknown code {code!r}")
    else:
        expected_status, retryable = KNOWN_CODES[code]
        if expected_status != status:
            problems.append(f"{code} answered with HTTP {status}, the contract says {expected_status}")
        if body.get("retryable") is not retryable:
            problems.append(f"{code} has retryable={body.get('retryable')!r}, the contract says {retryable}")
    if not isinstance(body.get("message"), str) or not body.get("message"):
        problems.append("message is not a non-empty string")
    if not isinstance(body.get("details"), dict):
        problems.append("details is not an object")
    header_id = headers.get("X-Correlation-Id")
    if not header_id:
        problems.append("no X-Correlation-Id header")
    elif body.get("correlationId") != header_id:
        problems.append(f"correlationId {body.get('correlationId')!r} != header {header_id!r}")
    return problems


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is a contract error with this status and code; returns the body."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    problems = check_error_body(response.status_code, response.headers, body)
    assert not problems, f"{problems}: {body}"
    assert body["code"] == code, body
    return body  # type: ignore[no-any-return]
