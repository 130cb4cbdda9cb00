from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictBool, StringConstraints

from ais.http.api_model import ApiModel, StrictApiModel
from ais.maintenance.service import MaintenanceState

MAX_RETRY_AFTER_SECONDS = 24 * 3600


class MaintenanceUpdate(StrictApiModel):
    enabled: StrictBool
    # What passengers' apps show; omitted: a generic message.
    message: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] | None = None
    # What `Retry-After` says; omitted: 300.
    retry_after_seconds: Annotated[int, Field(ge=1, le=MAX_RETRY_AFTER_SECONDS)] | None = None

    model_config = {
        "json_schema_extra": {
            "examples": [{"enabled": True, "message": "Payments are paused while our provider recovers.",
                          "retryAfterSeconds": 600}]
        }
    }


class MaintenanceOut(ApiModel):
    enabled: bool
    message: str
    retry_after_seconds: int
    updated_at: datetime | None = None
    updated_by: str | None = None

    @classmethod
    def of(cls, state: MaintenanceState) -> MaintenanceOut:
        return cls(enabled=state.enabled, message=state.message, retry_after_seconds=state.retry_after_seconds,
                   updated_at=state.updated_at, updated_by=state.updated_by)
