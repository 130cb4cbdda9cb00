"""Settings read from the environment (and `.env`).

Embedded mode (the default) works with no configuration at all: it generates its JWT
secret and refresh-token pepper once and keeps them in the data dir. Production
(`AIS_ENV=production`) refuses to start unless every required setting is present and strong.
"""

from __future__ import annotations

import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ais.ops.proxy_headers import parse_networks

MIN_SECRET_BYTES = 32
MIN_DISTINCT_CHARACTERS = 8
# Words people paste from examples and tutorials (compared without case, digits kept, separators
# dropped). A secret containing one is not a secret; the words are long enough (7+ letters) that a
# random value never contains one by chance.
_PLACEHOLDER_WORDS = (
    "changeme", "replaceme", "placeholder", "yoursecret", "secretkey", "notsecret", "insecure", "example",
    "password", "xxxxxxx", "dummysecret", "samplesecret", "generateme", "fillmein",
)
# Short values refused outright (they could occur inside a random value, so only the whole value).
_PLACEHOLDER_VALUES = {"secret", "dev", "development", "test", "testing", "todo", "dummy", "sample", "default",
                       "none", "null", "empty", "key", "token"}
# Stripe issues these with a fixed prefix; the weak-secret rules look at what follows it.
_STRIPE_PREFIXES = ("sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_")
LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")


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
    # SPEC §4: seats one user may hold across unpaid bookings, and bookings per user per minute.
    max_held_seats: int = Field(default=9, ge=1)
    booking_rate_per_minute: int = Field(default=30, ge=1)
    smtp_url: str | None = None
    sentry_dsn: str | None = None
    log_level: str = "INFO"
    # The public URL of the API (checkout return links, the sandbox's own links). `ais serve` sets
    # it to the address it listens on when unset; production requires an https URL.
    public_base_url: str = "http://127.0.0.1:8000"
    # When set, GET /metrics answers only with `Authorization: Bearer <METRICS_TOKEN>`.
    metrics_token: str | None = None
    # Reverse proxies whose X-Forwarded-For is believed: comma-separated addresses or CIDR blocks.
    # Empty (the default) trusts nobody, not even 127.0.0.1 (SPEC §6).
    forwarded_allow_ips: str = ""
    # Tuning knobs an operator may need; not part of the contract.
    db_pool_size: int = Field(default=10, ge=1)
    # No overflow by default: a connection beyond the pool is closed when returned, so under a
    # sustained load each one is a new PostgreSQL backend per request (measured: bench/perf.py
    # booked 40-70% more per second with 10 + 0 than with 10 + 10). Requests wait for a pooled one.
    db_max_overflow: int = Field(default=0, ge=0)
    # A database that is down or hung costs a request seconds, never minutes (SPEC §10).
    db_pool_timeout_seconds: float = Field(default=10, gt=0)  # wait for a free pooled connection
    db_connect_timeout_seconds: float = Field(default=5, gt=0)
    db_statement_timeout_seconds: float = Field(default=15, gt=0)
    access_token_minutes: int = Field(default=15, ge=1, le=60)
    refresh_token_days: int = Field(default=30, ge=1)
    run_jobs_in_process: bool | None = None
    login_rate_limit: int = Field(default=10, ge=1)  # per e-mail and IP, per minute
    login_rate_limit_per_ip: int = Field(default=120, ge=1)  # per IP, per minute
    register_rate_limit_per_ip: int = Field(default=20, ge=1)  # per IP, per minute

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        parse_networks(value)  # a typo must fail at start-up, not silently trust nobody
        return value

    @property
    def is_production(self) -> bool:
        return self.ais_env == "production"

    @property
    def jobs_in_process(self) -> bool:
        """`ais serve` runs a job worker in process, in every mode, unless `--no-worker` (which sets
        RUN_JOBS_IN_PROCESS=false): production deployments run `ais serve --no-worker` plus `ais worker`s."""
        if self.run_jobs_in_process is not None:
            return self.run_jobs_in_process
        return True

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.ais_data_dir / 'ais.db').as_posix()}"

    @property
    def public_base_url_is_set(self) -> bool:
        """Whether PUBLIC_BASE_URL was configured (rather than left at its local default)."""
        return "public_base_url" in self.model_fields_set

    def production_problems(self) -> list[str]:
        """Every missing or weak setting that production mode refuses to run with."""
        problems: list[str] = []
        if not self.database_url:
            problems.append("DATABASE_URL is missing")
        elif self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL must point at PostgreSQL in production")
        if not self.redis_url:
            problems.append("REDIS_URL is missing")
        problems += _secret_problems(self._secrets())
        if not self.public_base_url_is_set:
            problems.append("PUBLIC_BASE_URL is missing (the API's public https URL, for checkout return links)")
        elif not _is_https_url(self.public_base_url):
            problems.append("PUBLIC_BASE_URL must be an https:// URL")
        if not self.smtp_url:
            problems.append("SMTP_URL is missing (smtp://user:password@host:587 or smtps://…)")
        elif urlsplit(self.smtp_url).scheme not in ("smtp", "smtps") or not urlsplit(self.smtp_url).hostname:
            problems.append("SMTP_URL must look like smtp://user:password@host:587 or smtps://…")
        return problems

    def _secrets(self) -> dict[str, str | None]:
        secrets_by_name: dict[str, str | None] = {
            "JWT_SECRET": self.jwt_secret,
            "REFRESH_TOKEN_PEPPER": self.refresh_token_pepper,
            "STRIPE_SECRET_KEY": self.stripe_secret_key,
            "STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret,
        }
        if self.metrics_token:  # optional, but a weak one guards nothing
            secrets_by_name["METRICS_TOKEN"] = self.metrics_token
        return secrets_by_name

    def live_key_problems(self) -> list[str]:
        """A live Stripe key runs only in production: outside it the built-in sandbox would take
        payments on a page anyone can press Pay on (and a test run could move real money)."""
        key = self.stripe_secret_key or ""
        if self.is_production or not key.startswith(LIVE_KEY_PREFIXES):
            return []
        return [f"STRIPE_SECRET_KEY is a live key ({key[:8]}…), refused unless AIS_ENV=production: "
                "use a test key (sk_test_…) or leave it unset for the built-in sandbox"]

    def check_production(self) -> None:
        if self.is_production:
            problems = self.production_problems()
            if problems:
                raise ConfigurationError(
                    "AIS_ENV=production cannot start: " + "; ".join(problems) + "."
                )

    def check_startup(self) -> None:
        """Raise ConfigurationError naming every setting this mode refuses to start with."""
        self.check_production()
        problems = self.live_key_problems()
        if problems:
            raise ConfigurationError(f"AIS_ENV={self.ais_env} cannot start: " + "; ".join(problems) + ".")

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
    settings.check_startup()
    return settings.with_embedded_secrets()


def _is_https_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.hostname)


# Secrets we choose ourselves (not issued by Stripe) must also be long: they are HMAC keys.
_OWN_SECRETS = ("JWT_SECRET", "REFRESH_TOKEN_PEPPER", "METRICS_TOKEN")


def _secret_problems(values: dict[str, str | None]) -> list[str]:
    """Missing, weak or shared secrets, one problem per setting, never repeating a value."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for name, value in values.items():
        if not value:
            problems.append(f"{name} is missing")
            continue
        reason = _weakness(name, value)
        twin = seen.get(value)
        if twin is not None:
            reason = f"the same value as {twin}"
        seen.setdefault(value, name)
        if reason:
            problems.append(f"{name} is weak ({reason})")
    return problems


def _weakness(name: str, value: str) -> str | None:
    body = value
    for prefix in _STRIPE_PREFIXES:
        if name.startswith("STRIPE_") and body.startswith(prefix):
            body = body[len(prefix):]
            break
    compact = re.sub(r"[^a-z0-9]", "", body.lower())
    if len(set(body)) <= 1:
        return "a single repeated character"
    if compact in _PLACEHOLDER_VALUES or any(word in compact for word in _PLACEHOLDER_WORDS):
        return "a placeholder, not a secret"
    if name in _OWN_SECRETS:
        if len(value.encode()) < MIN_SECRET_BYTES:
            return f"needs at least {MIN_SECRET_BYTES} random bytes"
        if len(set(body)) < MIN_DISTINCT_CHARACTERS or _is_repeated_pattern(body):
            return "a repeated pattern, not random"
    return None


def _is_repeated_pattern(value: str) -> bool:
    """`abcabcabc…`: the whole value is one short unit repeated."""
    return any(len(value) % size == 0 and value == value[:size] * (len(value) // size)
               for size in range(1, min(len(value) // 2, 16) + 1))
