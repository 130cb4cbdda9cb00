from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ais.http.api_model import ApiModel


class AuditEntryOut(ApiModel):
    id: uuid.UUID
    actor_id: uuid.UUID | None
    actor_role: str
    action: str
    resource_type: str
    resource_id: str
    changes: dict[str, Any]
    ip: str | None
    user_agent: str | None
    correlation_id: str | None
    created_at: datetime
