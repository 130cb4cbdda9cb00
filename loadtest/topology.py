"""The production topology on this machine, for the load test: scratch PostgreSQL databases, a
redis-server, `ais serve --no-worker --workers 2`, one `ais worker`, and the payment sandbox as its
own process (`ais sandbox`), each started as an operator would and always stopped at the end."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from ais.config import Settings

AIS = str(Path(sys.executable).with_name("ais"))
LOCUST = str(Path(sys.executable).with_name("locust"))
HOST = "127.0.0.1"
ADMIN_DSN = os.environ.get("AIS_LOADTEST_ADMIN_DSN", "postgresql://root@127.0.0.1:5432/test")
CLK_TCK = os.sysconf("SC_CLK_TCK")
_SETTING_NAMES = {name.upper() for name in Settings.model_fields}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def scratch_databases(*purposes: str, keep: bool = False) -> Iterator[list[str]]:
    """One new database per purpose on the shared PostgreSQL, dropped at the end."""
    names = [f"ais_load_{purpose}_{secrets.token_hex(4)}" for purpose in purposes]
    with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
        for name in names:
            connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield [f"{ADMIN_DSN.rsplit('/', 1)[0]}/{name}" for name in names]
    finally:
        if not keep:
            with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
                for name in names:
                    connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ais_environment(settings: dict[str, object]) -> dict[str, str]:
    """The environment of an `ais` process: exactly these settings, none of the caller's."""
    env = {name: value for name, value in os.environ.items() if name.upper() not in _SETTING_NAMES}
    env.update({name.upper(): str(value) for name, value in settings.items() if value is not None})
    return env


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self, cwd: Path) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(self.argv, env=self.env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, grace: float = 20) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)  # its own session: the workers it forked too
            self.popen.wait(10)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_until(url: str, process: Process, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise SystemExit(f"{process.name} exited ({process.popen and process.popen.returncode}); "
                             f"its log ({process.log}):\n{process.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"{process.name} did not answer {url} within {timeout:.0f} s; its log:\n{process.tail()}")


def run_once(argv: list[str], env: dict[str, str], cwd: Path, what: str) -> str:
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{what} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def serve_knows_no_worker(env: dict[str, str], cwd: Path) -> bool:
    """`ais serve --no-worker` (SPEC §11); an older build without it runs the jobs in process."""
    return "--no-worker" in run_once([AIS, "serve", "--help"], env, cwd, "ais serve --help")


@dataclass
class Topology:
    work_dir: Path
    database_url: str
    sandbox_database_url: str
    pool_size: int | None
    api_port: int = field(default_factory=free_port)
    sandbox_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    worker_metrics_port: int = field(default_factory=free_port)
    processes: dict[str, Process] = field(default_factory=dict)
    separate_worker: bool = True
    secret_key: str = field(default_factory=lambda: "sk_test_load_" + secrets.token_hex(16))
    webhook_secret: str = field(default_factory=lambda: "whsec_load_" + secrets.token_hex(16))

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://{HOST}:{self.sandbox_port}"

    def settings(self, **overrides: object) -> dict[str, object]:
        """As shipped (development mode, the product's defaults), except: the abuse limits raised
        (one test user books far more than a passenger), and the sandbox reached over HTTP."""
        base: dict[str, object] = {
            "ais_env": "development",
            "ais_data_dir": self.work_dir / "var",
            "database_url": self.database_url,
            "redis_url": f"redis://{HOST}:{self.redis_port}/0",
            "public_base_url": self.api_url,
            "stripe_api_base": f"{self.sandbox_url}/_sandbox/stripe",
            "stripe_secret_key": self.secret_key,
            "stripe_webhook_secret": self.webhook_secret,
            "sandbox_webhook_delivery": "on",
            "sandbox_database_url": self.sandbox_database_url,
            "sandbox_webhook_url": f"{self.api_url}/webhooks/stripe",
            "max_held_seats": 1_000_000,
            "booking_rate_per_minute": 1_000_000,
            "login_rate_limit": 1_000_000,
            "login_rate_limit_per_ip": 1_000_000,
            "register_rate_limit_per_ip": 1_000_000,
            "db_pool_size": self.pool_size,
        }
        return {**base, **overrides}

    def start(self) -> None:
        (self.work_dir / "var").mkdir(parents=True, exist_ok=True)
        env = ais_environment(self.settings(run_jobs_in_process="false"))
        self._start("redis", ["redis-server", "--port", str(self.redis_port), "--bind", HOST, "--save", "",
                              "--appendonly", "no", "--dir", str(self.work_dir)], env)
        # As compose's `migrate`: the schema first, then the processes; then demo airports and flights.
        run_once([AIS, "db", "upgrade"], env, self.work_dir, "ais db upgrade")
        run_once([AIS, "seed", "--demo"], env, self.work_dir, "ais seed --demo")
        self._start("sandbox", [AIS, "sandbox", "--host", HOST, "--port", str(self.sandbox_port)], env)
        wait_until(f"{self.sandbox_url}/health", self.processes["sandbox"])
        self.separate_worker = serve_knows_no_worker(env, self.work_dir)
        serve = [AIS, "serve", "--host", HOST, "--port", str(self.api_port), "--workers", "2", "--no-demo"]
        if self.separate_worker:
            serve.append("--no-worker")
        self._start("api", serve, env if self.separate_worker else
                    ais_environment(self.settings(run_jobs_in_process="true")))
        wait_until(f"{self.api_url}/health/ready", self.processes["api"])
        if self.separate_worker:
            self._start("worker", [AIS, "worker", "--metrics-port", str(self.worker_metrics_port)], env)
            wait_until(f"http://{HOST}:{self.worker_metrics_port}/metrics", self.processes["worker"])

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        process = Process(name, argv, env, self.work_dir / f"{name}.log")
        process.start(self.work_dir)
        self.processes[name] = process

    def check_alive(self) -> list[str]:
        return [f"{name} exited during the run; its log ({p.log}):\n{p.tail()}"
                for name, p in self.processes.items() if not p.alive()]

    def stop(self) -> None:
        for name in ("api", "worker", "sandbox", "redis"):
            if name in self.processes:
                self.processes[name].stop()


# --- CPU accounting ---------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree(root: int) -> set[int]:
    parents = {int(entry.name): int(fields[1]) for entry in Path("/proc").iterdir()
               if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None}
    pids = {root}
    for _ in range(4):
        pids |= {pid for pid, parent in parents.items() if parent in pids}
    return pids


def postgres_pids() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    found.add(int(entry.name))
    return found


def machine_busy_seconds() -> float:
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK


@dataclass
class CpuMeter:
    """Cores used by each part of the topology over a window (PostgreSQL counts every database on
    the machine: other users of the shared server show up there and in `other`)."""

    roots: dict[str, int]
    started: float = 0.0
    marks: dict[str, float] = field(default_factory=dict)
    # Processes seen during the window: a worker's children are counted even after they exit.
    seen: dict[str, set[int]] = field(default_factory=dict)

    def _read(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for name, root in self.roots.items():
            pids = tree(root)
            self.seen.setdefault(name, set()).update(pids)
            values[name] = sum(_cpu_seconds(pid) for pid in pids)
        values["postgres"] = sum(_cpu_seconds(pid) for pid in postgres_pids())
        values["machine"] = machine_busy_seconds()
        return values

    def begin(self) -> None:
        self.started, self.marks = time.monotonic(), self._read()

    def end(self) -> dict[str, float]:
        now, elapsed = self._read(), time.monotonic() - self.started
        used = {name: max(0.0, now[name] - self.marks.get(name, 0.0)) / elapsed for name in now}
        used["other"] = max(0.0, used["machine"] - sum(v for k, v in used.items() if k != "machine"))
        return used
