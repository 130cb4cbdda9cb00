"""Running the installed `ais` entry point the way an operator does: a real subprocess of
`.venv/bin/ais`, its own data dir, its own database (a SQLite file, or a PostgreSQL database
created for the test), only the environment a shell would give it."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.fixtures.backend import BACKEND
from tests.fixtures.databases import new_postgres_database

AIS = str(Path(sys.executable).with_name("ais"))


@dataclass
class Result:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@dataclass
class Operator:
    """One operator's shell: a data dir, a database and the environment `ais` sees."""

    data_dir: Path
    database_url: str
    env: dict[str, str] = field(default_factory=dict)

    def environment(self, **extra: str) -> dict[str, str]:
        clean = {key: value for key, value in os.environ.items()
                 if not key.startswith(("AIS_", "STRIPE_", "DATABASE_", "REDIS_", "SANDBOX_", "PUBLIC_BASE",
                                        "SMTP_", "JWT_", "REFRESH_TOKEN", "METRICS_", "PROMETHEUS_", "LOG_",
                                        "RUN_JOBS"))}
        clean.update({"AIS_DATA_DIR": str(self.data_dir), "DATABASE_URL": self.database_url,
                      "COLUMNS": "200", "NO_COLOR": "1"})
        clean.update(self.env)
        clean.update(extra)
        return clean

    def run(self, *args: str, input: str | None = None, timeout: float = 120, **extra: str) -> Result:
        completed = subprocess.run([AIS, *args], env=self.environment(**extra), cwd=self.data_dir.parent,
                                   input=input, capture_output=True, text=True, timeout=timeout, check=False)
        return Result(completed.returncode, completed.stdout, completed.stderr)

    def start(self, *args: str, **extra: str) -> Started:
        """A long-running command; its output goes to files (a full pipe would block it)."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        name = f"{args[0]}-{secrets.token_hex(3)}"
        out_path, err_path = self.data_dir.parent / f"{name}.out", self.data_dir.parent / f"{name}.err"
        with out_path.open("w") as out, err_path.open("w") as err:
            # A session of its own: cleanup can then reach the server's worker processes too.
            process = subprocess.Popen([AIS, *args], env=self.environment(**extra), cwd=self.data_dir.parent,
                                       stdout=out, stderr=err, text=True, start_new_session=True)
        return Started(process, out_path, err_path)


@dataclass
class Started:
    process: subprocess.Popen[str]
    out_path: Path
    err_path: Path

    def output(self) -> Result:
        return Result(self.process.returncode if self.process.returncode is not None else -1,
                      self.out_path.read_text(), self.err_path.read_text())


def assert_one_line_error(result: Result, code: int, *needles: str) -> str:
    """A failure as SPEC §11 wants it: the exit code, one line on stderr naming the problem, no traceback."""
    assert result.code == code, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result
    assert "Traceback" not in result.err + result.out, result
    for needle in needles:
        assert needle in lines[0], result
    return lines[0]


@contextmanager
def fresh_database() -> Iterator[str]:
    """A database of its own, empty: a SQLite file, or a PostgreSQL database dropped afterwards."""
    if BACKEND == "sqlite":
        directory = Path(os.environ.get("TMPDIR", "/tmp")) / f"ais-cli-{secrets.token_hex(4)}"
        directory.mkdir()
        try:
            yield f"sqlite:///{directory}/ais.db"
        finally:
            for path in sorted(directory.glob("*"), reverse=True):
                path.unlink()
            directory.rmdir()
        return
    with new_postgres_database(f"ais_cli_{os.getpid()}") as url:
        yield url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_answers(url: str, started: Started, timeout: float = 90) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if started.process.poll() is not None:
            raise AssertionError(f"the process exited before answering: {started.output()}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def stop(started: Started, timeout: float = 40) -> Result:
    """SIGTERM, as a process manager stops it; the exit code and what it printed."""
    if started.process.poll() is None:
        started.process.send_signal(signal.SIGTERM)
    try:
        started.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        started.process.kill()
        started.process.wait()
        raise AssertionError(f"did not stop within {timeout} s of SIGTERM: {started.output()}") from None
    return started.output()


@contextmanager
def running(started: Started) -> Iterator[Started]:
    """Stop (and at worst kill) the process and every process it started, whatever the test does."""
    try:
        yield started
    finally:
        if started.process.poll() is None:
            started.process.kill()
            started.process.wait()
        try:
            os.killpg(started.process.pid, signal.SIGKILL)  # children left behind, if any
        except ProcessLookupError:
            pass


def group_alive(started: Started) -> bool:
    """Whether any process of the command's session (its server workers, say) is still running."""
    try:
        os.killpg(started.process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    """Read the test's database directly (synchronously), as an operator's psql/sqlite3 would."""
    from sqlalchemy import create_engine, text

    sync_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(sync_url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(sql))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()
