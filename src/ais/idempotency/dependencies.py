"""The `Idempotency-Key` header of the writes that create or move money (SPEC §7).

Declared required, so the OpenAPI document (and every SDK generated from it) says so. A request
without it still answers 400 `IDEMPOTENCY_KEY_REQUIRED`, not the framework's 422: see
`ais.ops.errors_http`, which recognises that one missing header. Its format is checked by
`ais.idempotency.service.validate_key`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

IDEMPOTENCY_HEADER = "Idempotency-Key"

IdempotencyKey = Annotated[
    str,
    Header(
        alias=IDEMPOTENCY_HEADER,
        description="Required: 1-255 printable ASCII characters, unique per operation you mean "
        "(a UUID is fine). A repeat with the same key and body replays the first answer for 24 h; "
        "the same key with another body is IDEMPOTENCY_PAYLOAD_MISMATCH.",
        examples=["6f1c9b1e-2a4d-4c1e-9a57-0d3c2b8e7f41"],
    ),
]
