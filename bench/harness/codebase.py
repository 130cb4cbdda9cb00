"""The code under test: this checkout, or a baseline commit built once into bench/.cache.

A baseline is the tree of a commit exported with `git archive` (not a `git worktree`: nothing
is registered in the repository, and deleting the cache directory is all the clean-up there
is) with its own venv installed from its own requirements.lock, so it runs exactly the code
and the dependencies of that commit. It is built once and reused while its ready-marker is
there; a half-built one (interrupted run) is rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.locations import CACHE_DIR, ROOT, VENV_BIN

READY_MARKER = ".bench-ready"


@dataclass(frozen=True)
class Codebase:
    label: str  # "current", "baseline"
    root: Path
    bin_dir: Path
    revision: str  # short commit, "+changes" when the working tree differs from it

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    def ais(self, args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> str:
        """Run this codebase's `ais` command; its output, or an error that shows it."""
        result = subprocess.run([self.tool("ais"), *args], env=env, cwd=cwd, capture_output=True, text=True,
                                timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{self.label}: `ais {' '.join(args)}` exited {result.returncode}:\n"
                               f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
        return result.stdout + result.stderr

    def describe(self) -> str:
        return f"{self.label} {self.revision} ({self.root})"


def clean_environment() -> dict[str, str]:
    """This process's environment without the settings of whatever AIS the caller configured."""
    prefixes = ("AIS_", "DATABASE_", "REDIS_", "STRIPE_", "SANDBOX_", "SMTP_", "SENTRY_", "PYTHONPATH")
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


def current() -> Codebase:
    """This checkout, run from the venv of the Python running the benchmark."""
    try:
        revision = _git("rev-parse", "--short", "HEAD")
        if _git("status", "--porcelain", "--untracked-files=no", "--", "src", "pyproject.toml", "requirements.lock"):
            revision += "+changes"
    except (OSError, subprocess.CalledProcessError):
        revision = "unknown"
    return Codebase("current", ROOT, VENV_BIN, revision)


def baseline(revision: str, progress: Callable[[str], None] = print) -> Codebase:
    """The commit `revision`, built into bench/.cache/<commit> unless a finished build is there."""
    try:
        commit = _git("rev-parse", "--verify", f"{revision}^{{commit}}")
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"--baseline {revision}: not a commit of this repository ({exc.stderr.strip()})") from exc
    target = CACHE_DIR / commit[:12]
    with _build_lock(target):
        if not (target / READY_MARKER).exists():
            progress(f"building the baseline {commit[:7]} in {target} (once; later runs reuse it) ...")
            _build(commit, target)
    return Codebase("baseline", target, target / ".venv" / "bin", commit[:7])


@contextlib.contextmanager
def _build_lock(target: Path) -> Iterator[None]:
    """Two benchmark runs starting together build the baseline once."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(commit: str, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = target.with_suffix(".tar")
    try:
        _git("archive", "--format=tar", f"--output={archive}", commit)
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    finally:
        archive.unlink(missing_ok=True)
    python = getattr(sys, "_base_executable", None) or sys.executable
    log = target / ".bench-build.log"
    pip = [str(target / ".venv" / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    steps = [
        [python, "-m", "venv", str(target / ".venv")],
        [*pip, "-r", str(target / "requirements.lock")],
        [*pip, "--no-deps", "-e", str(target)],
    ]
    with open(log, "w") as output:
        for step in steps:
            result = subprocess.run(step, cwd=target, stdout=output, stderr=subprocess.STDOUT, check=False,
                                    env=clean_environment())
            if result.returncode != 0:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                raise SystemExit(f"building the baseline {commit[:7]} failed at `{' '.join(step)}`:\n{tail}")
    (target / READY_MARKER).write_text(commit + "\n")
