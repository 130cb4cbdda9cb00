"""Where the embedded server listens, told through the data dir.

`ais serve` writes `$AIS_DATA_DIR/server.json` (its base URL and process id) when it starts and
removes it when it stops; the next start overwrites a file a killed server left behind. Other
commands on the same machine (`ais reconcile`, `ais worker`) read it to reach the server's payment
sandbox, instead of assuming a port: a guessed port may be another program, which would then be
sent the sandbox's secret key.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE_NAME = "server.json"


def server_file(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def announce(data_dir: Path, base_url: str, *, pid: int | None = None) -> Path:
    """Record that the server of process `pid` (default: this one) answers at `base_url`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = server_file(data_dir)
    record = {"url": base_url, "pid": pid or os.getpid(), "startedAt": datetime.now(UTC).isoformat()}
    partial = path.with_name(f".{FILE_NAME}.{secrets.token_hex(4)}")
    partial.write_text(json.dumps(record) + "\n")
    os.replace(partial, path)  # a reader never sees half a file
    return path


def withdraw(data_dir: Path, *, pid: int | None = None) -> None:
    """Remove the record, if it is still the one process `pid` (default: this one) wrote."""
    path = server_file(data_dir)
    record = _read(path)
    if record is not None and record.get("pid") == (pid or os.getpid()):
        path.unlink(missing_ok=True)


def running_server_url(data_dir: Path) -> str | None:
    """The base URL of the server recorded in the data dir, if its process is still alive."""
    record = _read(server_file(data_dir))
    if record is None or not isinstance(record.get("url"), str) or not isinstance(record.get("pid"), int):
        return None
    return str(record["url"]) if _alive(record["pid"]) else None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True
