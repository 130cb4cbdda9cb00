"""Payment sandbox throughput: `ais sandbox` as its own process, on PostgreSQL, under N clients.

A Stripe stand-in must never be the bottleneck of a measurement: this shows how many checkout
sessions it creates per second (`POST /v1/checkout/sessions`, the request AIS's `pay` sends, with
an Idempotency-Key) and how many hosted-page completions it takes (`POST /checkout/{id}` with
`outcome=succeeded`: charge, intent, session and three events), with its signed webhooks
delivered to a receiver in this process. Compare with the API's booking throughput (a few
hundred per second: `bench/booking_contention.py`).

Self-contained on purpose (no bench/harness.py): a scratch PostgreSQL database
(`ais_bench_sandbox_<random>`, dropped at the end), the `ais sandbox` subprocess (always stopped),
a minimal HTTP/1.1 keep-alive client (about 0.05 ms of CPU per request, so the load generator
leaves the 2 cores to the sandbox and PostgreSQL), and the CPU each of them used.

    .venv/bin/python bench/sandbox_throughput.py [--clients 32] [--duration 10] [--store postgres|sqlite]
                                                 [--delivery on|off]

Exits 1 when the store disagrees with what the clients were told (a session paid twice, a
completion without its charge, an answer lost) or when the figures are below `--target`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import psycopg

HOST = "127.0.0.1"
ADMIN_DSN = os.environ.get("AIS_BENCH_ADMIN_DSN", "postgresql://root@127.0.0.1:5432/test")
SECRET_KEY = "sk_test_bench_" + uuid.uuid4().hex
WEBHOOK_SECRET = "whsec_bench_" + uuid.uuid4().hex
CLK_TCK = os.sysconf("SC_CLK_TCK")
AIS = str(Path(sys.executable).with_name("ais"))


# --- a minimal HTTP/1.1 client and webhook receiver -------------------------------------------


class RawConnection:
    """One keep-alive connection; answers are read by Content-Length (the sandbox always sends it)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                      ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status = int((await self.reader.readline()).split(b" ", 2)[1])
        answer_headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        payload = await self.reader.readexactly(int(answer_headers.get("content-length", "0")))
        if answer_headers.get("connection", "").lower() == "close":
            await self.close()
        return status, answer_headers, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.reader = self.writer = None


@dataclass
class Receiver:
    """Answers 200 to every webhook POST, counting them (the AIS side is not what is measured)."""

    received: int = 0
    server: asyncio.Server | None = None
    port: int = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, HOST, 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (request_line := await reader.readline()) != b"":
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                if request_line.startswith(b"POST"):
                    self.received += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


# --- processes, CPU -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (0 once it is gone)."""
    fields = _stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_seconds(root: int) -> float:
    """A process and all its live descendants (`ais sandbox --workers N` runs N children)."""
    parents = {int(entry.name): int(fields[1]) for entry in Path("/proc").iterdir()
               if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None}
    tree = {root}
    for _ in range(4):
        tree |= {pid for pid, parent in parents.items() if parent in tree}
    return sum(process_cpu_seconds(pid) for pid in tree)


def postgres_cpu_seconds() -> float:
    """CPU of every PostgreSQL process on the machine (other databases' too: see the noise line)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    total += process_cpu_seconds(int(entry.name))
    return total


def machine_busy_seconds() -> float:
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK


@dataclass
class CpuWindow:
    sandbox_pid: int
    started: float = 0.0
    marks: dict[str, float] = field(default_factory=dict)

    def begin(self) -> None:
        self.started = time.monotonic()
        self.marks = self._read()

    def end(self) -> dict[str, float]:
        """Cores used per part over the window."""
        now, elapsed = self._read(), time.monotonic() - self.started
        used = {name: (now[name] - self.marks[name]) / elapsed for name in now}
        used["other"] = used["machine"] - used["sandbox"] - used["postgres"] - used["loadgen"]
        return used

    def _read(self) -> dict[str, float]:
        return {"sandbox": tree_cpu_seconds(self.sandbox_pid), "postgres": postgres_cpu_seconds(),
                "loadgen": time.process_time(), "machine": machine_busy_seconds()}


@contextlib.contextmanager
def scratch_database(keep: bool) -> Iterator[str]:
    name = f"ais_bench_sandbox_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    finally:
        if not keep:
            with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def sandbox_process(port: int, store_url: str | None, webhook_url: str, delivery: str, workers: int,
                    work_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AIS_", "STRIPE_", "SANDBOX_", "DATABASE_URL", "PUBLIC_BASE_URL"))}
    env.update(AIS_DATA_DIR=str(work_dir / "var"), STRIPE_SECRET_KEY=SECRET_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
               SANDBOX_WEBHOOK_URL=webhook_url, SANDBOX_WEBHOOK_DELIVERY=delivery, LOG_LEVEL="WARNING")
    if store_url:
        env["SANDBOX_DATABASE_URL"] = store_url
    log = (work_dir / "sandbox.log").open("wb")
    process = subprocess.Popen([AIS, "sandbox", "--port", str(port), "--workers", str(workers)],
                               env=env, cwd=work_dir,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


async def wait_until_healthy(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"ais sandbox exited {process.returncode}; its log: {log}")
        connection = RawConnection(port)
        with contextlib.suppress(OSError):
            status, _, _ = await connection.request("GET", "/health")
            await connection.close()
            if status == 200:
                return
        await asyncio.sleep(0.1)
    raise SystemExit("ais sandbox did not become healthy in 30 s")


# --- the load -------------------------------------------------------------------------------


def checkout_form(index: int) -> bytes:
    """What AIS's `pay` sends (stripe_gateway.create_checkout_session), form-encoded as the SDK does."""
    booking = str(uuid.uuid4())
    fields = {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "sar",
        "line_items[0][price_data][unit_amount]": str(45000 + index % 100),
        "line_items[0][price_data][product_data][name]": f"Booking B{index:05d}, flight XA{index % 900 + 100}",
        "metadata[bookingId]": booking, "metadata[paymentId]": str(uuid.uuid4()),
        "metadata[reference]": f"B{index:05d}",
        "payment_intent_data[metadata][bookingId]": booking,
        "client_reference_id": booking,
        "customer_email": f"passenger{index}@example.com",
        "success_url": f"http://127.0.0.1:8000/payments/success?booking={booking}&session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"http://127.0.0.1:8000/payments/cancelled?booking={booking}",
        "expires_at": str(int(time.time()) + 3600),
    }
    return urlencode(fields).encode()


@dataclass
class PhaseResult:
    name: str
    elapsed: float
    latencies: list[float] = field(default_factory=list)  # ms, answers with the expected status
    failures: Counter[str] = field(default_factory=Counter)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")

    def line(self) -> str:
        cpu = "  ".join(f"{name} {self.cpu[name]:.2f}" for name in ("sandbox", "postgres", "loadgen", "other"))
        per_request = self.cpu["sandbox"] * self.elapsed / max(1, len(self.latencies)) * 1000
        failed = f"  FAILED {dict(self.failures)}" if self.failures else ""
        return (f"{self.name:<22} {self.rate:8.1f}/s  p50 {self.percentile(0.5):6.1f} ms  "
                f"p95 {self.percentile(0.95):6.1f} ms  p99 {self.percentile(0.99):6.1f} ms  n={len(self.latencies)}"
                f"{failed}\n{'':<23}cores: {cpu}  (sandbox {per_request:.2f} ms CPU per request){failed and ''}")


Step = Callable[[RawConnection, int], Awaitable[tuple[bool, str]]]


async def run_phase(name: str, port: int, clients: int, duration: float, step: Step, cpu: CpuWindow,
                    until_empty: Callable[[], bool] | None = None) -> PhaseResult:
    connections = [RawConnection(port) for _ in range(clients)]
    for connection in connections:  # connect before the window
        await connection.request("GET", "/health")
    result = PhaseResult(name, 0.0)
    counter = iter(range(10**9))
    stop_at = time.monotonic() + duration

    async def client(connection: RawConnection) -> None:
        while time.monotonic() < stop_at and not (until_empty and until_empty()):
            started = time.perf_counter()
            try:
                ok, why = await step(connection, next(counter))
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                ok, why = False, type(exc).__name__
                await connection.close()
            if ok:
                result.latencies.append((time.perf_counter() - started) * 1000)
            else:
                result.failures[why] += 1

    cpu.begin()
    began = time.monotonic()
    await asyncio.gather(*(client(connection) for connection in connections))
    result.elapsed = time.monotonic() - began
    result.cpu = cpu.end()
    for connection in connections:
        await connection.close()
    return result


async def benchmark(args: argparse.Namespace, store_url: str | None, work_dir: Path) -> int:
    receiver = Receiver()
    await receiver.start()
    port = free_port()
    auth = {"Authorization": f"Bearer {SECRET_KEY}", "Content-Type": "application/x-www-form-urlencoded"}
    created: list[str] = []
    completed: list[str] = []
    with sandbox_process(port, store_url, f"http://{HOST}:{receiver.port}/webhooks/stripe", args.delivery,
                         args.workers, work_dir) as process:
        await wait_until_healthy(port, process, work_dir / "sandbox.log")
        cpu = CpuWindow(process.pid)

        async def create(connection: RawConnection, index: int) -> tuple[bool, str]:
            status, _, body = await connection.request(
                "POST", "/_sandbox/stripe/v1/checkout/sessions", checkout_form(index),
                {**auth, "Idempotency-Key": f"checkout-{uuid.uuid4()}-attempt-1"})
            if status != 200:
                return False, f"HTTP {status}"
            created.append(json.loads(body)["id"])
            return True, ""

        pending: list[str] = []

        async def complete(connection: RawConnection, _index: int) -> tuple[bool, str]:
            session_id = pending.pop()
            status, headers, _ = await connection.request(
                "POST", f"/_sandbox/checkout/{session_id}", b"outcome=succeeded",
                {"Content-Type": "application/x-www-form-urlencoded"})
            if status != 303 or "/payments/success" not in headers.get("location", ""):
                return False, f"HTTP {status}"
            completed.append(session_id)
            return True, ""

        await run_phase("warm-up", port, args.clients, 1.0, create, cpu)
        created.clear()
        phases = [await run_phase("create checkout session", port, args.clients, args.duration, create, cpu)]
        pending.extend(created)
        phases.append(await run_phase("complete hosted page", port, args.clients, args.duration, complete, cpu,
                                      until_empty=lambda: len(pending) < args.clients))
        drained = await drain_deliveries(receiver, cpu, expected=3 * len(completed), delivery=args.delivery)

    await receiver.stop()
    print(f"\nPayment sandbox: `ais sandbox --workers {args.workers}` (uvicorn/uvloop/httptools), store {args.store}, "
          f"{args.clients} clients, delivery {args.delivery}; machine: {os.cpu_count()} cores, shared")
    for phase in phases:
        print(phase.line())
    if drained:
        print(drained)
    problems = check_store(store_url, created_ids=phases[0].latencies and created, completed=completed)
    lost = [phase.name for phase in phases if phase.failures]
    if lost:
        problems.append(f"failed answers in: {', '.join(lost)}")
    slow = [phase.name for phase in phases if phase.rate < args.target]
    if slow:
        problems.append(f"below the target of {args.target:.0f}/s: {', '.join(slow)}")
    noisy = [phase.name for phase in phases if phase.cpu["other"] > 0.3]
    if noisy:
        print(f"note: other processes used > 0.3 core during {', '.join(noisy)}: figures are depressed, rerun")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("OK" if not problems else "FAILED")
    return 1 if problems else 0


async def drain_deliveries(receiver: Receiver, cpu: CpuWindow, *, expected: int, delivery: str) -> str:
    """Wait until every event of the completions reached the receiver; the delivery rate of the
    backlog left after the load, and its CPU."""
    if delivery != "on":
        return ""
    started, before = time.monotonic(), receiver.received
    cpu.begin()
    deadline = started + 120
    while receiver.received < expected and time.monotonic() < deadline:  # noqa: ASYNC110 - a poll, on purpose
        await asyncio.sleep(0.05)
    took, used = time.monotonic() - started, cpu.end()
    backlog = receiver.received - before
    state = "all" if receiver.received >= expected else "NOT all"
    per_event = used["sandbox"] * took / max(1, backlog) * 1000
    return (f"{'webhooks':<22} {state} {expected} events delivered and answered; the backlog after the load "
            f"({backlog} events) drained at {backlog / took:.0f}/s\n{'':<23}cores: sandbox {used['sandbox']:.2f}  "
            f"postgres {used['postgres']:.2f}  receiver {used['loadgen']:.2f}  other {used['other']:.2f}  "
            f"(sandbox {per_event:.2f} ms CPU per event delivered)")


def check_store(store_url: str | None, *, created_ids: list[str] | float, completed: list[str]) -> list[str]:
    """Every completed session is complete and paid with exactly one charge; nothing else is."""
    if not store_url or not isinstance(created_ids, list):
        return []
    problems: list[str] = []
    with psycopg.connect(store_url) as connection:
        rows = connection.execute(
            "SELECT s.id, s.body->>'status', s.body->>'payment_status', count(c.id) "
            "FROM stripe_sandbox.objects s LEFT JOIN stripe_sandbox.objects c "
            "ON c.object = 'charge' AND c.body->>'payment_intent' = s.body->>'payment_intent' "
            "WHERE s.object = 'checkout.session' GROUP BY s.id").fetchall()
    by_id = {row[0]: row[1:] for row in rows}
    missing = [session_id for session_id in created_ids if session_id not in by_id]
    if missing:
        problems.append(f"{len(missing)} sessions answered 200 but not stored")
    wrong = [session_id for session_id in completed if by_id.get(session_id) != ("complete", "paid", 1)]
    if wrong:
        problems.append(f"{len(wrong)} completed sessions are not complete+paid with one charge")
    extra = sum(1 for status, _, charges in by_id.values() if status == "complete") - len(completed)
    if extra:
        problems.append(f"{extra} sessions completed that no client was told about")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase (default 10)")
    parser.add_argument("--store", choices=("postgres", "sqlite"), default="postgres",
                        help="SANDBOX_DATABASE_URL: a scratch PostgreSQL database (default) or the SQLite file")
    parser.add_argument("--delivery", choices=("on", "off"), default="on",
                        help="deliver the events to a receiver in this process (default on)")
    parser.add_argument("--target", type=float, default=275.0,
                        help="requests/s each phase must reach (default 275: 1.5 times the API's 183 bookings/s "
                             "last measured by bench/booking_contention.py)")
    parser.add_argument("--workers", type=int, default=1, help="`ais sandbox --workers` (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ais-bench-sandbox-") as directory:
        if args.store == "sqlite":
            return asyncio.run(benchmark(args, None, Path(directory)))
        with scratch_database(args.keep) as store_url:
            return asyncio.run(benchmark(args, store_url, Path(directory)))


if __name__ == "__main__":
    sys.exit(main())
