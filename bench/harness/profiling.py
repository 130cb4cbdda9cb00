"""py-spy on the server workers during a phase's measured window, and a summary of where their
CPU went (by package, by function, by AIS function, and named library internals)."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from harness.locations import VENV_BIN, sleep_until


async def profile_workers(pids: list[int], start: float, duration: float, out_dir: Path, name: str, rate: int,
                          native: bool) -> list[Path]:
    binary = _profiler(out_dir)
    if binary is None:
        raise SystemExit("--profile needs py-spy in the venv: .venv/bin/pip install py-spy")
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:40]
    await sleep_until(start)
    outputs, processes = [], []
    for pid in pids:
        output = out_dir / f"{slug}-{pid}-{secrets.token_hex(2)}.txt"
        outputs.append(output)
        processes.append(await asyncio.create_subprocess_exec(
            str(binary), "record", "--pid", str(pid), "--duration", str(max(1, int(duration))), "--rate", str(rate),
            "--format", "raw", "--gil", *(["--native"] if native else ["--nonblocking"]), "--output", str(output),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for process in processes:
        await process.wait()
    return [o for o in outputs if o.exists()]


def _profiler(out_dir: Path) -> Path | None:
    binary = VENV_BIN / "py-spy"
    if not binary.exists():
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    return binary


def _frame(raw: str) -> tuple[str, str]:
    """'func (path/to/module.py:123)' → ('func', 'path/to/module.py')."""
    function, _, where = raw.rpartition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            if marker == "/lib/python3":
                where = "stdlib/" + where.split("/", 1)[-1]
            break
    return function or raw, where


def _package(where: str) -> str:
    parts = where.split("/")
    if parts[0] == "stdlib":
        return "stdlib " + (parts[1].removesuffix(".py") if len(parts) > 1 else "")
    return parts[0].removesuffix(".py")


# Library internals worth naming in a profile summary: substring of a frame → what it is.
NOTABLE_FRAMES = {
    "._async_ping (": "SQLAlchemy pool_pre_ping (BEGIN; SELECT; ROLLBACK at every pool checkout)",
    "._start_transaction (": "asyncpg BEGIN (SQLAlchemy autobegin)",
    "gc_collect_main (": "Python cyclic garbage collector (native frames only)",
    "solve_dependencies (": "FastAPI dependency solving and request validation",
    "serialize_response (": "FastAPI response validation and serialisation",
    "orm_execute_statement (": "SQLAlchemy ORM statement execution",
    "Session.flush (": "SQLAlchemy unit of work flush",
    "._generate_cache_key (": "SQLAlchemy SQL cache-key generation",
    "._finalize_fairy (": "SQLAlchemy connection return to the pool (reset: ROLLBACK)",
    "model_dump_json (": "pydantic model_dump_json",
    "RedisStore._call (": "Redis round trips",
    "REQUEST_LATENCY": "prometheus histogram",
    "write (libc": "write(2) syscalls (sockets; native frames only)",
}


def summarize_profile(paths: Sequence[Path], name: str, top: int = 12) -> list[str]:
    total = 0
    self_time: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    notable: Counter[str] = Counter()
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            samples = int(count)
            frames = [_frame(f) for f in stack.split(";")[2:]]  # drop the process and thread frames
            if not frames:
                continue
            total += samples
            function, where = frames[-1]
            self_time[f"{function} ({where})"] += samples
            packages[_package(where)] += samples
            for label in {f"{f} ({w})" for f, w in frames if w.startswith("ais/")}:
                inclusive[label] += samples
            raw_frames = stack.split(";")
            for marker, label in NOTABLE_FRAMES.items():
                if any(marker in frame for frame in raw_frames):
                    notable[label] += samples
    if not total:
        return [f"  profile of {name}: no samples"]

    def share(counter: Counter[str]) -> list[str]:
        return [f"      {count / total:6.1%}  {label}" for label, count in counter.most_common(top)]

    return [
        f"  py-spy profile of the server during '{name}' ({total} samples taken while a thread held the GIL, "
        "so idle waiting is excluded):",
        "    self time by package:",
        *share(packages),
        "    self time by function:",
        *share(self_time),
        "    inclusive time of AIS functions (SQLAlchemy's async layer runs ORM work in greenlets, whose stacks "
        "py-spy shows without their AIS callers, so these exclude most SQLAlchemy time):",
        *share(inclusive),
        "    inclusive time of notable library internals:",
        *share(notable),
    ]


