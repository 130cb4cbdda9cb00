"""Settings read from the environment (and `.env`).

Embedded mode (the default) works with no configuration at all: it generates its JWT
secret and refresh-token pepper once and keeps them in the data dir. Production
(`AIS_ENV=production`) refuses to start unless every required setting is present and strong.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_BYTES = 32
_WEAK_SECRETS = {"changeme", "change-me", "secret", "dev", "development", "test", "password"}


class ConfigurationError(RuntimeError):
    """The settings cannot run the requested mode; the message names every problem."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    ais_env: Literal["development", "production"] = "development"
    ais_data_dir: Path = Path("./var")
    database_url: str | None = None
    redis_url: str | None = None
    jwt_secret: str | None = None
    refresh_token_pepper: str | None = None
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    sandbox_webhook_delivery: Literal["on", "off"] = "on"
    # `ais sandbox` (the sandbox as its own server): its state (default: a SQLite file in the
    # data dir; PostgreSQL for load) and where it delivers events (default: PUBLIC_BASE_URL's
    # /webhooks/stripe).
    sandbox_database_url: str | None = None
    sandbox_webhook_url: str | None = None
    hold_minutes: int = Field(default=30, ge=1, le=24 * 60)
    smtp_url: str | None = None
    sentry_dsn: str | None = None
    log_level: str = "INFO"
    public_base_url: str = "http://127.0.0.1:8000"
    # Tuning knobs an operator may need; not part of the contract.
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    access_token_minutes: int = Field(default=15, ge=1, le=60)
    refresh_token_days: int = Field(default=30, ge=1)
    run_jobs_in_process: bool | None = None
    login_rate_limit: int = Field(default=10, ge=1)  # per e-mail and IP, per minute
    login_rate_limit_per_ip: int = Field(default=120, ge=1)  # per IP, per minute
    register_rate_limit_per_ip: int = Field(default=20, ge=1)  # per IP, per minute

    @property
    def is_production(self) -> bool:
        return self.ais_env == "production"

    @property
    def jobs_in_process(self) -> bool:
        """Embedded mode runs the periodic jobs inside the server; production uses `ais scheduler`."""
        if self.run_jobs_in_process is not None:
            return self.run_jobs_in_process
        return not self.is_production

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.ais_data_dir / 'ais.db').as_posix()}"

    def production_problems(self) -> list[str]:
        """Every missing or weak setting that production mode refuses to run with."""
        problems: list[str] = []
        if not self.database_url:
            problems.append("DATABASE_URL is missing")
        elif self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL must point at PostgreSQL in production")
        if not self.redis_url:
            problems.append("REDIS_URL is missing")
        for name in ("jwt_secret", "refresh_token_pepper"):
            value = getattr(self, name)
            env_name = name.upper()
            if not value:
                problems.append(f"{env_name} is missing")
            elif len(value.encode()) < MIN_SECRET_BYTES or value.lower() in _WEAK_SECRETS:
                problems.append(f"{env_name} is weak (needs at least {MIN_SECRET_BYTES} random bytes)")
        if not self.stripe_secret_key:
            problems.append("STRIPE_SECRET_KEY is missing")
        if not self.stripe_webhook_secret:
            problems.append("STRIPE_WEBHOOK_SECRET is missing")
        return problems

    def check_production(self) -> None:
        if self.is_production:
            problems = self.production_problems()
            if problems:
                raise ConfigurationError(
                    "AIS_ENV=production cannot start: " + "; ".join(problems) + "."
                )

    def with_embedded_secrets(self) -> Settings:
        """Fill secrets that embedded mode may generate, keeping them in the data dir."""
        if self.is_production:
            return self
        updates: dict[str, str] = {}
        for name in ("jwt_secret", "refresh_token_pepper", "stripe_webhook_secret", "stripe_secret_key"):
            if not getattr(self, name):
                updates[name] = _persistent_secret(self.ais_data_dir, name)
        return self.model_copy(update=updates) if updates else self


def _persistent_secret(data_dir: Path, name: str) -> str:
    """Read the generated secret `name` from the data dir, creating it once with mode 0600."""
    secrets_dir = data_dir / "secrets"
    path = secrets_dir / name
    if path.exists():
        return path.read_text().strip()
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    prefix = {"stripe_webhook_secret": "whsec_", "stripe_secret_key": "sk_test_"}.get(name, "")
    value = prefix + secrets.token_urlsafe(48)
    tmp = secrets_dir / f".{name}.{secrets.token_hex(4)}"
    # Created 0600 from the first byte: writing first and chmod-ing after leaves a window in
    # which the secret is readable by anyone the umask lets in.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(value)
    try:
        # link() refuses to overwrite: when two processes start at once, the first one wins.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    settings = Settings()
    settings.check_production()
    return settings.with_embedded_secrets()
