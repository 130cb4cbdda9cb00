"""The raw PostgreSQL ceiling of a hot-flight booking, measured by pgbench: the same hot-row
conditional seat decrement the product must do, plus a booking INSERT (into the real `bookings`
table, so the index and foreign-key work is the product's too), in one transaction with durable
commits (synchronous_commit on), by a few clients on one cabin that never sells out.

Its bookings use references starting with "0" (never drawn by the product), and the cabin check
after the run counts them like any other held seats."""

from __future__ import annotations

import asyncio
import math
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from harness.database import connect
from harness.load import LoadResult, LoadSpec

SCRIPT = """\
BEGIN;
UPDATE cabins SET seats_available = seats_available - 1 WHERE id = :cabin AND seats_available >= 1;
INSERT INTO bookings (id, reference, user_id, flight_id, cabin_id, cabin_class, seat_count, contact_email,
    total_minor, currency, status, expires_at, updated_at, created_at)
  VALUES (gen_random_uuid(), '0' || lpad(to_hex(nextval('bench_pgbench_reference')), 5, '0'), :user, :flight,
    :cabin, 'economy', 1, 'bench@example.com', 45000, 'SAR', 'reserved', now() + interval '30 minutes', now(), now());
END;
"""
CANDIDATES = ("/usr/lib/postgresql/15/bin/pgbench", "/usr/bin/pgbench")


def pgbench_binary() -> str:
    for candidate in CANDIDATES:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("pgbench")
    if found is None:
        raise SystemExit("pgbench is not installed (Debian: postgresql-client or postgresql-contrib)")
    return found


async def prepare(dsn: str) -> None:
    """The sequence that numbers pgbench's booking references (5 hex digits: a million bookings)."""
    connection = await connect(dsn)
    try:
        await connection.execute("CREATE SEQUENCE IF NOT EXISTS bench_pgbench_reference")
    finally:
        await connection.close()


async def run_pgbench(spec: LoadSpec, duration: float) -> LoadResult:
    """pgbench with spec.clients clients for `duration` seconds (whole seconds, at least 1)."""
    url = urlparse(spec.dsn)
    seconds = max(1, math.ceil(duration))
    with tempfile.TemporaryDirectory(prefix="ais-bench-pgbench-") as work:
        directory = Path(work)
        script = directory / "hot_row.sql"
        script.write_text(SCRIPT)
        command = [
            pgbench_binary(), "--no-vacuum", "--protocol=prepared", f"--client={spec.clients}",
            f"--jobs={min(2, spec.clients)}", f"--time={seconds}", f"--file={script}",
            f"--define=cabin={spec.cabin_id}", f"--define=flight={spec.flight_id}", f"--define=user={spec.user_ids[0]}",
            "--log", f"--log-prefix={directory / 'tx'}",
            f"--host={url.hostname}", f"--port={url.port or 5432}", f"--username={url.username or 'postgres'}",
            url.path.lstrip("/"),
        ]
        # Durable commits whatever the server's default: the ceiling must pay the same fsync as AIS.
        env = {"PATH": "/usr/bin:/bin", "PGOPTIONS": "-c synchronous_commit=on", "PGAPPNAME": "ais-bench-pgbench"}
        process = await asyncio.create_subprocess_exec(*command, cwd=directory, env=env,
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"pgbench exited {process.returncode}:\n{stderr.decode(errors='replace')[-2000:]}"
                               f"{stdout.decode(errors='replace')[-2000:]}")
        return _read_logs(directory, float(seconds))


def _read_logs(directory: Path, window: float) -> LoadResult:
    """pgbench's per-transaction logs: client_id transaction_no time_us script_no epoch epoch_us
    (time_us is "failed" or "skipped" for a transaction that did not complete)."""
    result = LoadResult(window=window)
    for log in directory.glob("tx.*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                result.latencies.append(int(fields[2]) / 1e6)
                result.statuses["200"] += 1
                result.ok += 1
            elif len(fields) >= 3:
                result.statuses[f"pgbench {fields[2]}"] += 1
    return result
