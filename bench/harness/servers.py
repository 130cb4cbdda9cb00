"""The servers under test: `ais serve` of a codebase (or the uvicorn/granian CLI for other ASGI
apps, such as bench/bare_app.py), each in its own process group, always stopped at the end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.codebase import Codebase, clean_environment
from harness.locations import HOST, free_port

# Limits that protect the product from abuse and would otherwise refuse a benchmark's load:
# many logins from one IP, many held seats and many bookings per minute by one user. Raised
# through their settings (a codebase that does not know a setting ignores it).
RAISED_LIMITS = {
    "LOGIN_RATE_LIMIT": "1000000",
    "LOGIN_RATE_LIMIT_PER_IP": "1000000",
    "REGISTER_RATE_LIMIT_PER_IP": "1000000",
    "MAX_HELD_SEATS": "1000000",
    "BOOKING_RATE_PER_MINUTE": "1000000",
}


@dataclass
class Server:
    name: str
    command: list[str]
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    workers: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass(frozen=True)
class ServerSettings:
    """What a benchmark may set on the server; None leaves the product's default."""

    redis_db: int = -1  # -1: no Redis (the in-process memory store)
    pool_size: int | None = None
    max_overflow: int | None = None
    log_level: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def server_environment(dsn: str, data_dir: Path, settings: ServerSettings | None = None) -> dict[str, str]:
    """The product as shipped (logging, metrics and guards on) in embedded mode on PostgreSQL,
    with the periodic jobs off (they would add load at random moments), the sandbox's webhook
    delivery off, and the abuse limits raised. Pool size and log level stay the product's
    defaults unless given."""
    settings = settings or ServerSettings()
    env = clean_environment()
    env.update({
        "AIS_ENV": "development",
        "AIS_DATA_DIR": str(data_dir),
        "DATABASE_URL": dsn,
        "RUN_JOBS_IN_PROCESS": "false",
        "SANDBOX_WEBHOOK_DELIVERY": "off",
        # Tokens taken at the start must outlive the run.
        "ACCESS_TOKEN_MINUTES": "60",
        **RAISED_LIMITS,
    })
    if settings.log_level:
        env["LOG_LEVEL"] = settings.log_level
    if settings.pool_size is not None:
        env["DB_POOL_SIZE"] = str(settings.pool_size)
    if settings.max_overflow is not None:
        env["DB_MAX_OVERFLOW"] = str(settings.max_overflow)
    if settings.redis_db >= 0:
        env["REDIS_URL"] = f"redis://{HOST}:6379/{settings.redis_db}"
    env.update(settings.extra)
    return env


def _ais_cli_serves(codebase: Codebase) -> bool:
    cli = Path(codebase.tool("ais"))
    if not cli.exists():
        return False
    result = subprocess.run([str(cli), "serve", "--help"], capture_output=True, text=True, timeout=60, check=False)
    return result.returncode == 0 and "--no-demo" in result.stdout


def server_command(codebase: Codebase, kind: str, target: str, port: int, workers: int) -> tuple[str, list[str]]:
    """(description, argv). `target` is an ASGI app factory "module:function"."""
    if kind == "ais" and target == "ais.app:create_app" and _ais_cli_serves(codebase):
        return ("ais serve (uvicorn, uvloop, httptools)",
                [codebase.tool("ais"), "serve", "--host", HOST, "--port", str(port), "--workers", str(workers),
                 "--no-demo"])
    if kind == "granian":
        binary = Path(codebase.tool("granian"))
        if not binary.exists():
            raise SystemExit(f"granian is not installed in {codebase.bin_dir.parent}: pip install granian")
        return ("granian ASGI (uvloop)",
                [str(binary), "--interface", "asgi", "--factory", "--host", HOST, "--port", str(port),
                 "--workers", str(workers), "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
                 "--http", "1", target])
    return ("uvicorn CLI (uvloop, httptools)",
            [codebase.tool("uvicorn"), "--factory", target, "--host", HOST, "--port", str(port),
             "--workers", str(workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
             "--log-level", "warning", "--timeout-graceful-shutdown", "5"])


async def start_server(codebase: Codebase, kind: str, target: str, env: dict[str, str], workers: int,
                       work_dir: Path, ready_path: str = "/health/ready", ready_within: float = 120.0) -> Server:
    port = free_port()
    name, command = server_command(codebase, kind, target, port, workers)
    log_path = work_dir / f"server-{port}.log"
    process = _spawn(command, env, work_dir, log_path)
    server = Server(f"{name} [{codebase.label} {codebase.revision}]", command, port, process, log_path, workers)
    import httpx

    deadline = time.monotonic() + ready_within
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                response = await client.get(ready_path)
                if response.status_code == 200:
                    break
            if time.monotonic() > deadline:
                stop_server(server)
                raise RuntimeError(f"server not ready after {ready_within:.0f} s:\n{server.log_tail()}")
            await asyncio.sleep(0.2)
    if workers > 1:
        await asyncio.sleep(1.5)  # let every worker finish starting, not just the first one
    return server


def _spawn(command: list[str], env: dict[str, str], work_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """In its own session, so the whole server (supervisor and workers) is one process group."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, env=env, cwd=work_dir, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_server(server: Server) -> None:
    """SIGTERM to the server's own process group (it was started in a new session), then SIGKILL."""
    process = server.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=25)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    # Workers of a multi-process server are in the same group; make sure none is left over.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def work_directory() -> Iterator[Path]:
    """A temporary directory for server logs, data dirs and load generator files."""
    path = Path(tempfile.mkdtemp(prefix="ais-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
