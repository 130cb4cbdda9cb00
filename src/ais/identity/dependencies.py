"""Who is calling: `CurrentUser` for any signed-in user, `AdminUser` for staff routes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ais.errors import Forbidden, Unauthorized
from ais.http.dependencies import AccessStatesDep, RuntimeDep
from ais.identity.access_check import ensure_honoured
from ais.identity.models import Role
from ais.identity.security import decode_access_token

_bearer = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/login")


@dataclass(frozen=True, slots=True)
class Principal:
    id: uuid.UUID
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value


async def current_principal(
    request: Request, runtime: RuntimeDep, access_states: AccessStatesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    secret = runtime.settings.jwt_secret
    assert secret, "settings without JWT_SECRET never start (with_embedded_secrets, production checks)"
    claims = decode_access_token(credentials.credentials, secret=secret)
    # Signed and unexpired is not enough: logout-all, deactivation and demotion revoke it (SPEC §6).
    await ensure_honoured(access_states, runtime.session_factory, claims)
    principal = Principal(id=claims.user_id, role=claims.role)
    request.state.principal = principal
    return principal


async def admin_principal(  # async: a plain def would run in a worker thread
    principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("This needs the admin role.")
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
AdminUser = Annotated[Principal, Depends(admin_principal)]
