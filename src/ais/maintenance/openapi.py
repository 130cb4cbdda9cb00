"""How the routes that maintenance mode pauses declare it in the OpenAPI document."""

from __future__ import annotations

import copy
from typing import Any

from ais.maintenance.service import DEFAULT_MESSAGE, DEFAULT_RETRY_AFTER_SECONDS

MAINTENANCE_EXAMPLE = {
    "summary": "SERVICE_UNAVAILABLE (maintenance mode)",
    "description": "Maintenance mode is on (`PUT /api/v1/admin/maintenance`): retry after `Retry-After` seconds; "
                   "show `details.message` to the passenger.",
    "value": {
        "code": "SERVICE_UNAVAILABLE",
        "message": DEFAULT_MESSAGE,
        "correlationId": "5f0c2a8e4b0d4f7e9d8c1b2a3f4e5d6c",
        "retryable": True,
        "details": {"message": DEFAULT_MESSAGE, "retryAfterSeconds": DEFAULT_RETRY_AFTER_SECONDS},
    },
}


def paused_by_maintenance(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """`responses` (from `ais.http.errors.responses`) with the maintenance answer added to the
    503: its example and the `Retry-After` header."""
    result = copy.deepcopy(responses)
    unavailable = result[503]
    unavailable["description"] += " (also while maintenance mode is on)"
    unavailable["content"]["application/json"]["examples"]["MAINTENANCE"] = MAINTENANCE_EXAMPLE
    unavailable["headers"] = {"Retry-After": {
        "description": "Seconds to wait before retrying (maintenance mode: its `retryAfterSeconds`).",
        "schema": {"type": "integer"},
    }}
    return result
