"""The in-Python load generators, run in load generator processes (or in the bench process):
`httpx` (one AsyncClient with one keep-alive connection per virtual client), `raw` (a minimal
HTTP/1.1 keep-alive client on asyncio streams, ~0.05 ms of CPU per request against httpx's
~0.6 ms, which leaves more of the cores to the server) and raw SQL through asyncpg (the seat
decrement and a booking insert, for the raw ceiling)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

from harness.load import Clock, LoadResult, LoadSpec, error_code, record
from harness.locations import HOST, run_async, sleep_until


def _request_headers(spec: LoadSpec, client_index: int) -> dict[str, str]:
    headers = dict(spec.headers)
    if spec.tokens:
        headers["Authorization"] = f"Bearer {spec.tokens[client_index % len(spec.tokens)]}"
    if spec.bodies:
        headers["Content-Type"] = "application/json"
    return headers


def _extra_headers(spec: LoadSpec, body_index: int | None) -> dict[str, str]:
    extra = {"Idempotency-Key": str(uuid.uuid4())} if spec.idempotency else {}
    if spec.body_headers and body_index is not None:
        extra.update(spec.body_headers[body_index])
    return extra


async def _httpx_client(spec: LoadSpec, index: int, clock: Clock, result: LoadResult) -> None:
    import httpx

    headers = _request_headers(spec, index)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=spec.base_url, limits=limits, timeout=spec.timeout,
                                 headers=headers) as client:
        await sleep_until(clock.connect_at(index))
        with contextlib.suppress(httpx.HTTPError):
            await client.get(spec.connect_path)  # opens this client's keep-alive connection
        await sleep_until(clock.start_at)
        n = index
        while clock.next_request():
            body_index = clock.next_body(n, len(spec.bodies)) if spec.bodies else None
            body = spec.bodies[body_index] if body_index is not None else None
            extra = _extra_headers(spec, body_index)
            n += spec.clients
            started = time.perf_counter()
            try:
                response = await client.request(spec.method, spec.path, content=body, headers=extra)
                status, code = str(response.status_code), (
                    None if response.status_code < 300 else error_code(response.content))
            except httpx.HTTPError as exc:
                status, code = type(exc).__name__, None
            record(result, clock, started, time.perf_counter(), status, code)


class _RawConnection:
    """HTTP/1.1 keep-alive over asyncio streams; enough for these JSON endpoints."""

    def __init__(self, base_url: str) -> None:
        from urllib.parse import urlparse

        parsed = urlparse(base_url)
        self.host, self.port = parsed.hostname or HOST, parsed.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(head + body)
        raw_head = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            content = b"".join(p[:-2] for p in parts)
        else:
            content = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.writer = self.reader = None


async def _raw_client(spec: LoadSpec, index: int, clock: Clock, result: LoadResult) -> None:
    connection = _RawConnection(spec.base_url)
    headers = _request_headers(spec, index)
    fixed = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    prefix = f"{spec.method} {spec.path} HTTP/1.1\r\nHost: {connection.host}:{connection.port}\r\n{fixed}"
    await sleep_until(clock.connect_at(index))
    with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
        host = f"Host: {connection.host}:{connection.port}\r\n"
        await connection.request(f"GET {spec.connect_path} HTTP/1.1\r\n{host}Content-Length: 0\r\n\r\n".encode(), b"")
    await sleep_until(clock.start_at)
    n = index
    try:
        while clock.next_request():
            body_index = clock.next_body(n, len(spec.bodies)) if spec.bodies else None
            body = spec.bodies[body_index] if body_index is not None else b""
            n += spec.clients
            extra = "".join(f"{name}: {value}\r\n" for name, value in _extra_headers(spec, body_index).items())
            head = f"{prefix}{extra}Content-Length: {len(body)}\r\n\r\n".encode("latin-1")
            started = time.perf_counter()
            try:
                status_code, content = await connection.request(head, body)
                status, code = str(status_code), None if status_code < 300 else error_code(content)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                await connection.close()
                status, code = type(exc).__name__, None
            record(result, clock, started, time.perf_counter(), status, code)
    finally:
        await connection.close()


SQL_TAKE_CONDITIONAL = (
    "UPDATE cabins SET seats_available = seats_available - 1 "
    "WHERE id = $1 AND seats_available >= 1 RETURNING seats_available"
)
SQL_LOCK = "SELECT seats_available FROM cabins WHERE id = $1 FOR UPDATE"
SQL_TAKE_LOCKED = "UPDATE cabins SET seats_available = seats_available - 1 WHERE id = $1"
SQL_INSERT_BOOKING = (
    "INSERT INTO bookings (id, reference, user_id, flight_id, cabin_id, cabin_class, seat_count, contact_email, "
    "total_minor, currency, status, expires_at, updated_at, created_at) "
    "VALUES ($1, $2, $3, $4, $5, 'economy', 1, 'bench@example.com', 45000, 'SAR', 'reserved', "
    "now() + interval '30 minutes', now(), now())"
)


class _SoldOut(Exception):
    """Rolls the raw transaction back (its booking row included)."""


_REF_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _reference(prefix: str, process_index: int, counter: int) -> str:
    """6 characters starting with a digit (0/1/2), which the product's locator alphabet never uses;
    unique per (prefix, load process, counter < 36**4)."""
    digits = []
    for _ in range(4):
        counter, rest = divmod(counter, 36)
        digits.append(_REF_DIGITS[rest])
    return prefix + _REF_DIGITS[process_index % 36] + "".join(reversed(digits))


async def _sql_client(spec: LoadSpec, index: int, clock: Clock, result: LoadResult, process_index: int,
                      counter: list[int]) -> None:
    """One asyncpg connection doing the seat decrement and a booking insert in one transaction."""
    import asyncpg

    connection = await asyncpg.connect(spec.dsn, server_settings={"application_name": "ais-bench-raw",
                                                                  "timezone": "UTC"})
    cabin_id, flight_id = uuid.UUID(spec.cabin_id), uuid.UUID(spec.flight_id)
    user_id = uuid.UUID(spec.user_ids[index % len(spec.user_ids)])
    try:
        await sleep_until(clock.start_at)
        while clock.next_request():
            counter[0] += 1
            reference = _reference(spec.reference_prefix, process_index, counter[0])
            started = time.perf_counter()
            status = "200"
            try:
                async with connection.transaction():
                    if spec.kind == "sql_cond_last":
                        # The booking first, the seat decrement last: the hot row is locked for one
                        # round trip (UPDATE → COMMIT) instead of two.
                        await connection.execute(SQL_INSERT_BOOKING, uuid.uuid4(), reference, user_id, flight_id,
                                                 cabin_id)
                        if await connection.fetchval(SQL_TAKE_CONDITIONAL, cabin_id) is None:
                            raise _SoldOut
                        left = -1
                    elif spec.kind == "sql_cond":
                        left = await connection.fetchval(SQL_TAKE_CONDITIONAL, cabin_id)
                    else:
                        left = await connection.fetchval(SQL_LOCK, cabin_id)
                        if left is not None and left >= 1:
                            await connection.execute(SQL_TAKE_LOCKED, cabin_id)
                        else:
                            left = None
                    if left is None:
                        status = "409"
                    elif left >= 0:
                        await connection.execute(SQL_INSERT_BOOKING, uuid.uuid4(), reference, user_id, flight_id,
                                                 cabin_id)
            except _SoldOut:
                status = "409"
            except asyncpg.PostgresError as exc:
                status = type(exc).__name__
            record(result, clock, started, time.perf_counter(), status, "SEATS_UNAVAILABLE" if status == "409"
                    else None)
    finally:
        await connection.close()


async def drive(spec: LoadSpec, client_indexes: list[int], start_at: float, process_index: int) -> LoadResult:
    result = LoadResult()
    clock = Clock(spec, start_at)
    counter = [spec.reference_start]
    if spec.kind == "http":
        worker = _raw_client if spec.client == "raw" else _httpx_client
        tasks = [worker(spec, i, clock, result) for i in client_indexes]
    else:
        tasks = [_sql_client(spec, i, clock, result, process_index, counter) for i in client_indexes]
    await asyncio.gather(*tasks)
    result.measure_start = clock.measure_start
    result.measure_end = clock.measure_start + result.window
    return result


def drive_in_process(spec: LoadSpec, client_indexes: list[int], start_at: float, process_index: int) -> LoadResult:
    return run_async(drive(spec, client_indexes, start_at, process_index))


def split(spec: LoadSpec, parts: int) -> list[tuple[LoadSpec, list[int]]]:
    """Clients dealt round-robin to `parts` processes; the attempt budget (or with `once`, the
    bodies) divided the same way."""
    shares = []
    for part in range(parts):
        indexes = list(range(part, spec.clients, parts))
        if not indexes:
            continue
        share = LoadSpec(**{**spec.__dict__})
        if spec.once:
            # Every body exactly once over all processes: each process gets its own slice.
            share.bodies = spec.bodies[part::parts]
            share.body_headers = spec.body_headers[part::parts]
            share.attempts = len(share.bodies)
        elif spec.attempts is not None:
            share.attempts = spec.attempts // parts + (1 if part < spec.attempts % parts else 0)
        shares.append((share, indexes))
    return shares


