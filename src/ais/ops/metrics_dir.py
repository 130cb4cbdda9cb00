"""The directory prometheus-client's multiprocess mode shares between the processes of one server.

`ais serve --workers N` runs N processes; a scrape reaches one of them. In multiprocess mode each
process writes its samples to files in `PROMETHEUS_MULTIPROC_DIR` and `/metrics` merges the files of
every process (and the in-process jobs' samples with them). The variable must be set before
`prometheus_client` is first imported in a process: it picks its value class at import time, so
this module never imports it, and the commands call `prepare` first thing.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(directory: Path) -> Path:
    """Empty `directory` (samples of a previous run would be added to this one's), create it,
    and point this process and its children at it."""
    if "prometheus_client" in sys.modules and os.environ.get(ENV) != str(directory):
        raise RuntimeError(f"{ENV} must be set before prometheus_client is imported")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    os.environ[ENV] = str(directory)
    return directory


def current() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def remove_stale(parent: Path, prefix: str) -> None:
    """Remove `parent/<prefix><pid>` directories whose process is gone (a worker that was killed)."""
    if not parent.is_dir():
        return
    for child in parent.glob(f"{prefix}*"):
        pid = child.name.removeprefix(prefix)
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(child, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
