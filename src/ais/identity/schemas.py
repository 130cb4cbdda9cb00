from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import EmailStr, Field

from ais.api_model import ApiModel, StrictApiModel


class RegisterRequest(StrictApiModel):
    email: EmailStr
    password: str = Field(min_length=10, max_length=256)
    full_name: str = Field(min_length=1, max_length=200)

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
    token_type: Literal["Bearer"] = "Bearer"


class UserOut(ApiModel):
    id: uuid.UUID
    email: str
    full_name: str
    role: str
    created_at: datetime
