"""What the job fault tests share: the recording SMTP server (`tests.fixtures.smtp`, re-exported),
and `ais worker` processes started as an operator starts them, on a private database."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.fixtures.services import AIS_COMMAND, LIVE_DEFAULTS, ais_environment
from tests.fixtures.smtp import Inbox, smtp_server

__all__ = ["Inbox", "Workers", "smtp_server", "workers"]


@dataclass
class Workers:
    """`ais worker` processes, each with its own output file; all killed on the way out."""

    root: Path
    settings: dict[str, object]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start(self, concurrency: int = 2) -> subprocess.Popen[bytes]:
        log = self.root / f"worker-{len(self.processes)}.log"
        env = ais_environment(**{**LIVE_DEFAULTS, **self.settings})
        with log.open("ab") as out:
            process = subprocess.Popen([str(AIS_COMMAND), "worker", "--concurrency", str(concurrency)],
                                       env=env, cwd=self.root, stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(process)
        self.logs.append(log)
        return process

    def output(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-6000:]}" for log in self.logs
                         if log.exists())

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)

    def stop(self, process: subprocess.Popen[bytes]) -> int:
        process.send_signal(signal.SIGTERM)
        return process.wait(45)


@contextmanager
def workers(root: Path, **settings: object) -> Iterator[Workers]:
    group = Workers(root, settings)
    try:
        yield group
    finally:
        group.kill_all()


def migrate(root: Path, **settings: object) -> None:
    env = ais_environment(**{**LIVE_DEFAULTS, **settings})
    result = subprocess.run([str(AIS_COMMAND), "db", "upgrade"], env=env, cwd=root, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr


async def eventually(check: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(step)
    return check()


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return f"--- {self.name}\n{self.log.read_text(errors='replace')[-6000:]}" if self.log.exists() else ""


@contextmanager
def ais_processes(root: Path) -> Iterator[Callable[..., Started]]:
    """`start(name, *args, **settings)` → an `ais` process with exactly these settings (and the
    live-server defaults); every one is killed on the way out."""
    started: list[Started] = []

    def start(name: str, *args: str, **settings: object) -> Started:
        log = root / f"{name}.log"
        env = ais_environment(**{**LIVE_DEFAULTS, **settings})
        with log.open("ab") as out:
            process = subprocess.Popen([str(AIS_COMMAND), *args], env=env, cwd=root, stdout=out,
                                       stderr=subprocess.STDOUT)
        started.append(Started(name, process, log))
        return started[-1]

    try:
        yield start
    finally:
        for each in started:
            if each.process.poll() is None:
                each.process.kill()
                each.process.wait(10)
