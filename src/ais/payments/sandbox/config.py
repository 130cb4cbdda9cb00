"""What a sandbox instance is told: its keys, where it lives, where it delivers events."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

# The API version the sandbox speaks and stamps on its events (the one stripe 16.x pins).
API_VERSION = "2026-10-28.endive"
MOUNT_PATH = "/_sandbox"
# Where a PostgreSQL store keeps its tables, apart from anything else in that database.
DEFAULT_SCHEMA = "stripe_sandbox"

DeliveryMode = Literal["on", "off"]


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How hard the sandbox tries to deliver one event before giving up on it.

    Stripe retries for three days; a sandbox that backs off that long would only hide a broken
    receiver, so the defaults give up after nine attempts over about four minutes (1 s, 2 s,
    4 s … 128 s apart). Reconciliation is what repairs an event that was never processed.
    """

    max_attempts: int = 9
    initial_delay: float = 1.0
    max_delay: float = 300.0
    timeout: float = 10.0
    # How often the background loop looks for due work when nothing woke it: retries left by
    # another process, and open sessions whose `expires_at` has passed.
    poll_interval: float = 1.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_delay < 0 or self.max_delay < self.initial_delay:
            raise ValueError("need 0 <= initial_delay <= max_delay")
        if self.timeout <= 0 or self.poll_interval <= 0:
            raise ValueError("timeout and poll_interval must be positive")

    def delay_after(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (exponential, capped)."""
        return float(min(self.initial_delay * 2 ** (attempts - 1), self.max_delay))

    @property
    def lease_seconds(self) -> float:
        """How long a claimed delivery stays invisible to other processes (a crash frees it)."""
        return self.timeout + 30.0


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    secret_key: str
    webhook_secret: str
    public_base_url: str
    webhook_url: str | None = None
    delivery: DeliveryMode = "on"
    # Neither: everything in memory (tests). `database_path`: a SQLite file that survives
    # restarts and is shared by every worker process of the embedded server. `database_url`:
    # `sqlite:///…` or `postgresql://…` (for load: calls run in parallel), tables in
    # `database_schema` on PostgreSQL.
    database_path: Path | None = None
    database_url: str | None = None
    database_schema: str = DEFAULT_SCHEMA
    delivery_policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    api_version: str = API_VERSION
    # The sandbox's business clock (object `created`, `expires_at` checks, idempotency key
    # age). Tests may move it; signatures and delivery back-off always use the real clock.
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        problems = []
        if not self.secret_key:
            problems.append("secret_key is empty")
        elif self.secret_key.startswith(("sk_live_", "rk_live_")):
            # A fake checkout page anyone can press Pay on must never hold a key that moves real money.
            problems.append("secret_key is a live key: the sandbox takes test keys only")
        if not self.webhook_secret:
            problems.append("webhook_secret is empty")
        if not _is_http_url(self.public_base_url):
            problems.append(f"public_base_url {self.public_base_url!r} is not an http(s) URL")
        if self.webhook_url is not None and not _is_http_url(self.webhook_url):
            problems.append(f"webhook_url {self.webhook_url!r} is not an http(s) URL")
        if self.database_path is not None and self.database_url is not None:
            problems.append("give database_path or database_url, not both")
        if self.delivery not in ("on", "off"):
            problems.append(f"delivery must be 'on' or 'off', not {self.delivery!r}")
        if problems:
            raise ValueError("sandbox configuration: " + "; ".join(problems))

    @property
    def store_url(self) -> str | None:
        """The store as a URL (None: in memory)."""
        if self.database_path is not None:
            return f"sqlite:///{self.database_path.as_posix()}"
        return self.database_url

    @property
    def base_url(self) -> str:
        return self.public_base_url.rstrip("/")

    @property
    def effective_webhook_url(self) -> str:
        return self.webhook_url or f"{self.base_url}/webhooks/stripe"

    def checkout_url(self, session_id: str) -> str:
        return f"{self.base_url}{MOUNT_PATH}/checkout/{session_id}"

    def now(self) -> int:
        return int(self.clock())


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
