from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from ais.db.session import SessionDep
from ais.errors import NotFound
from ais.identity import repository, service
from ais.identity.dependencies import CurrentUser
from ais.identity.rate_limit import client_ip, enforce
from ais.identity.schemas import LoginRequest, LogoutRequest, RefreshRequest, RegisterRequest, TokenPair, UserOut
from ais.openapi_errors import responses

router = APIRouter(prefix="/api/v1", tags=["identity"])


@router.post(
    "/auth/register", status_code=status.HTTP_201_CREATED, response_model=UserOut,
    responses=responses("VALIDATION_ERROR", "RATE_LIMITED"),
)
async def register(body: RegisterRequest, request: Request, session: SessionDep) -> UserOut:
    # Each registration costs an argon2 hash: cap it per address so it cannot exhaust the CPU.
    settings = request.app.state.runtime.settings
    await enforce(request, "register-ip", client_ip(request), limit=settings.register_rate_limit_per_ip)
    user = await service.register(session, email=body.email, password=body.password, full_name=body.full_name)
    await session.commit()
    return UserOut.model_validate(user)


@router.post("/auth/login", response_model=TokenPair, responses=responses("UNAUTHORIZED", "RATE_LIMITED"))
async def login(body: LoginRequest, request: Request, session: SessionDep) -> TokenPair:
    settings = request.app.state.runtime.settings
    ip = client_ip(request)
    await enforce(request, "login-ip", ip, limit=settings.login_rate_limit_per_ip)
    await enforce(request, "login", f"{ip}|{service.normalize_email(body.email)}", limit=settings.login_rate_limit)
    pair = await service.login(
        session, settings, email=body.email, password=body.password, device_name=body.device_name
    )
    await session.commit()
    return pair


@router.post("/auth/refresh", response_model=TokenPair, responses=responses("UNAUTHORIZED", "RATE_LIMITED"))
async def refresh(body: RefreshRequest, request: Request, session: SessionDep) -> TokenPair:
    settings = request.app.state.runtime.settings
    await enforce(request, "refresh-ip", client_ip(request), limit=settings.login_rate_limit_per_ip)
    pair = await service.refresh(session, settings, refresh_token=body.refresh_token)
    await session.commit()
    return pair


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=responses("UNAUTHORIZED"))
async def logout(body: LogoutRequest, user: CurrentUser, request: Request, session: SessionDep) -> Response:
    await service.logout(
        session, request.app.state.runtime.settings, user_id=user.id, refresh_token=body.refresh_token
    )
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=responses("UNAUTHORIZED"))
async def logout_all(user: CurrentUser, request: Request, session: SessionDep) -> Response:
    await service.logout_all(session, user_id=user.id, access_states=request.app.state.runtime.access_states)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserOut, responses=responses("UNAUTHORIZED", "TOKEN_EXPIRED"))
async def me(user: CurrentUser, session: SessionDep) -> UserOut:
    found = await repository.user_by_id(session, user.id)
    if found is None:
        raise NotFound("User not found.")
    return UserOut.model_validate(found)
