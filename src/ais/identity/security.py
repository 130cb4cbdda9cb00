"""Passwords (argon2id), access tokens (JWT, HS256 pinned) and refresh-token hashing."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from typing import TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ais.errors import TokenExpired, Unauthorized

T = TypeVar("T")
JWT_ALGORITHM = "HS256"
JWT_ISSUER = "ais"
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the e-mail is unknown, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


# A few words every guessing list starts with that matter here in particular; the shipped list
# (identity/data/common_passwords.txt) has thousands more.
_COMMON_WORDS = frozenset({
    "password", "passw0rd", "p@ssword", "qwerty", "qwertyuiop", "azerty", "asdfgh", "asdfghjkl",
    "zxcvbnm", "letmein", "welcome", "iloveyou", "admin", "administrator", "abc", "abcdef",
    "monkey", "dragon", "football", "baseball", "sunshine", "princess", "trustno", "master",
    "secret", "changeme", "default", "login", "user", "test", "airline", "booking", "flight",
})
# Stripped from both ends before the list is consulted: "Password123!" is as weak as "password".
_PADDING = "0123456789!@#$%^&*()_-+=.?~ "


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("ais.identity").joinpath("data/common_passwords.txt").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def password_weakness(password: str, *, email: str | None = None) -> str | None:
    """Why `password` is too easy to guess, or None. Length is checked by the schema; this
    refuses what survives a length rule: one repeated character, a keyboard or digit run, a
    common password (case-insensitive, also padded with digits or symbols), the e-mail address
    or its local part."""
    if len(set(password)) < 4:
        return "uses too few different characters"
    steps = {ord(b) - ord(a) for a, b in pairwise(password)}
    if steps <= {1} or steps <= {-1}:
        return "is a simple sequence"
    lowered = password.lower()
    core = lowered.strip(_PADDING)
    if email:
        address = email.strip().lower()
        if address in (lowered, core) or address.split("@", 1)[0] in (lowered, core):
            return "is your e-mail address"
    if not core or core in _COMMON_WORDS or lowered in common_passwords() or core in common_passwords():
        return "is too common"
    return None


# Each argon2id hash takes 64 MiB while it runs: a pool of two threads keeps a burst of logins
# from pushing a worker's memory up by hundreds of MB. (A thread pool, not an asyncio semaphore:
# it serves any event loop.)
_HASHING_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")


async def _off_loop(function: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(_HASHING_POOL, function)


async def hash_password(password: str) -> str:
    # argon2 is deliberately slow; keep it off the event loop.
    return await _off_loop(lambda: _hasher.hash(password))


async def verify_password(password_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await _off_loop(verify)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    version: int  # the user's token_version when the token was issued


def issue_access_token(*, user_id: uuid.UUID, role: str, version: int, secret: str, minutes: int) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "role": role,
        "ver": version,
        "typ": "access",
        "iss": JWT_ISSUER,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def decode_access_token(token: str, *, secret: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],  # pinned: "none" and RS/HS confusion are refused
            issuer=JWT_ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired() from None
    except jwt.PyJWTError:
        raise Unauthorized("The access token is not valid.") from None
    if claims.get("typ") != "access":
        raise Unauthorized("The access token is not valid.")
    version = claims.get("ver", 0)  # tokens from before versions existed count as version 0
    if not isinstance(version, int) or isinstance(version, bool):
        raise Unauthorized("The access token is not valid.")
    try:
        return AccessClaims(user_id=uuid.UUID(claims["sub"]), role=str(claims.get("role", "")), version=version)
    except ValueError:
        raise Unauthorized("The access token is not valid.") from None


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)  # 32 random bytes


def hash_refresh_token(token: str, pepper: str) -> str:
    return hashlib.sha256((token + pepper).encode()).hexdigest()

