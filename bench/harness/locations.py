"""Where things are: this checkout, the bench directory, the host every benchmark targets."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / "bench"
CACHE_DIR = BENCH_DIR / ".cache"  # baseline builds (gitignored)
WRK_SCRIPT = BENCH_DIR / "wrk" / "load.lua"
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def run_async(coroutine: Any) -> Any:
    """Run on uvloop (as the server does) when it is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


async def sleep_until(moment: float) -> None:
    """Sleep until time.perf_counter() reaches `moment` (CLOCK_MONOTONIC: the same in every process),
    never less: uvloop rounds timers to whole milliseconds, so a shorter sleep returns at once."""
    delay = moment - time.perf_counter()
    while delay > 0:
        await asyncio.sleep(max(delay, 0.001))
        delay = moment - time.perf_counter()
