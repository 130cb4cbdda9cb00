"""Passenger accounts: register, sign in per device, refresh, sign out; who am I."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from ais.errors import NotFound
from ais.http.dependencies import AccessStatesDep, RuntimeDep, SessionDep
from ais.http.errors import responses
from ais.http.rate_limit import client_ip, enforce
from ais.identity import repository, service
from ais.identity.dependencies import CurrentUser
from ais.identity.schemas import LoginRequest, LogoutRequest, RefreshRequest, RegisterRequest, TokenPair, UserOut

router = APIRouter(prefix="/api/v1", tags=["identity"])


@router.post(
    "/auth/register", status_code=status.HTTP_201_CREATED, response_model=UserOut,
    responses=responses("VALIDATION_ERROR", "RATE_LIMITED"),
)
async def register(body: RegisterRequest, request: Request, runtime: RuntimeDep, session: SessionDep) -> UserOut:
    # Each registration costs an argon2 hash: cap it per address so it cannot exhaust the CPU.
    await enforce(request, "register-ip", client_ip(request), limit=runtime.settings.register_rate_limit_per_ip)
    user = await service.register(session, email=body.email, password=body.password, full_name=body.full_name)
    return UserOut.model_validate(user)


@router.post("/auth/login", response_model=TokenPair, responses=responses("UNAUTHORIZED", "RATE_LIMITED"))
async def login(body: LoginRequest, request: Request, runtime: RuntimeDep, session: SessionDep) -> TokenPair:
    settings = runtime.settings
    ip = client_ip(request)
    await enforce(request, "login-ip", ip, limit=settings.login_rate_limit_per_ip)
    await enforce(request, "login", f"{ip}|{service.normalize_email(body.email)}", limit=settings.login_rate_limit)
    return await service.login(
        session, settings, email=body.email, password=body.password, device_name=body.device_name
    )


@router.post("/auth/refresh", response_model=TokenPair, responses=responses("UNAUTHORIZED", "RATE_LIMITED"))
async def refresh(body: RefreshRequest, request: Request, runtime: RuntimeDep, session: SessionDep) -> TokenPair:
    await enforce(request, "refresh-ip", client_ip(request), limit=runtime.settings.login_rate_limit_per_ip)
    return await service.refresh(session, runtime.settings, refresh_token=body.refresh_token)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=responses("UNAUTHORIZED"))
async def logout(body: LogoutRequest, user: CurrentUser, runtime: RuntimeDep, session: SessionDep) -> Response:
    await service.logout(session, runtime.settings, user_id=user.id, refresh_token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=responses("UNAUTHORIZED"))
async def logout_all(user: CurrentUser, access_states: AccessStatesDep, session: SessionDep) -> Response:
    await service.logout_all(session, user_id=user.id, access_states=access_states)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserOut, responses=responses("UNAUTHORIZED", "TOKEN_EXPIRED"))
async def me(user: CurrentUser, session: SessionDep) -> UserOut:
    found = await repository.user_by_id(session, user.id)
    if found is None:
        raise NotFound("User not found.")
    return UserOut.model_validate(found)
