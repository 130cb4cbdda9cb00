from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ais.http.api_model import ApiModel, StrictApiModel
from ais.identity.models import Role
from ais.identity.security import password_weakness


class RegisterRequest(StrictApiModel):
    email: EmailStr
    password: str = Field(min_length=10, max_length=256)
    # Stripped before the length check, so a name of blanks is refused rather than stored empty.
    full_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

    @field_validator("password")
    @classmethod
    def _strong_enough(cls, password: str, info: ValidationInfo) -> str:
        # `email` is declared first, so it is already validated here (absent when it was invalid).
        weakness = password_weakness(password, email=info.data.get("email"))
        if weakness:
            raise ValueError(f"this password {weakness}; choose a passphrase of several unrelated words")
        return password

    model_config = {
        "json_schema_extra": {
            "examples": [{"email": "layla@example.com", "password": "a long passphrase", "fullName": "Layla Haddad"}]
        }
    }


class LoginRequest(StrictApiModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)
    device_name: str | None = Field(default=None, max_length=100)


class RefreshRequest(StrictApiModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class LogoutRequest(StrictApiModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class TokenPair(ApiModel):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (the scheme name, not a secret)


class UserOut(ApiModel):
    id: uuid.UUID
    email: str
    full_name: str
    role: str
    created_at: datetime


class AdminUserOut(ApiModel):
    """A user as staff see it (admin `GET /users`, `PATCH /users/{id}`)."""

    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    created_at: datetime


class UserPatch(StrictApiModel):
    """Deactivate or reactivate an account, or change its role. Either takes effect on every
    API process within seconds: the user's access tokens stop being honoured."""

    is_active: StrictBool | None = None
    role: Role | None = None

    model_config = {"json_schema_extra": {"examples": [{"isActive": False}, {"role": "passenger"}]}}

    @model_validator(mode="after")
    def _something_to_change(self) -> UserPatch:
        if self.is_active is None and self.role is None:
            raise ValueError("give isActive or role")
        return self
