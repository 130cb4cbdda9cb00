"""After the load: the invariants (SPEC §4, §5) in AIS's database against what the payment
sandbox (Stripe's stand-in) says happened, and the sandbox's own throughput."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
import psycopg

from ais.bookings.rules import HOLDING, SOLD

SEATS_TAKEN = sorted(status.value for status in HOLDING | SOLD)
CONFIRMED_OR_LATER = sorted(status.value for status in SOLD if status.value != "paid")
SIGNED = {"charge": 1, "dispute_reversal": 1, "refund": -1, "partial_refund": -1, "dispute": -1}


@dataclass
class Invariants:
    cabins: int = 0
    bookings: int = 0
    paid_at_provider: int = 0
    problems: list[str] = field(default_factory=list)
    waited_seconds: float = 0.0
    pending_deliveries: int = 0
    failed_deliveries: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        verdict = "all hold" if self.ok else "BROKEN"
        out = [f"Invariants ({verdict}; checked after {self.waited_seconds:.1f} s for the last webhooks):",
               f"  seats: {self.cabins} cabins, seats_available + held/sold = capacity, none below 0",
               f"  money: {self.paid_at_provider} bookings paid at the provider; ledger net = captured for each",
               f"  status: every paid booking confirmed ({self.bookings} bookings in all)"]
        if self.pending_deliveries or self.failed_deliveries:
            out.append(f"  webhooks: {self.pending_deliveries} events still being retried by the sandbox, "
                       f"{self.failed_deliveries} given up (it tries 9 times over ~4 minutes, 10 s each: an API "
                       "slower than that loses them until `ais reconcile` repairs them)")
        out += [f"  PROBLEM: {problem}" for problem in self.problems[:20]]
        return out


def seat_problems(ais_url: str) -> tuple[int, list[str]]:
    with psycopg.connect(ais_url) as connection:
        rows = connection.execute(
            """
            SELECT f.flight_number, c.cabin_class, c.capacity, c.seats_available,
                   COALESCE(SUM(b.seat_count) FILTER (WHERE b.status = ANY(%s)), 0)
            FROM cabins c JOIN flights f ON f.id = c.flight_id LEFT JOIN bookings b ON b.cabin_id = c.id
            GROUP BY f.flight_number, f.departure_at, c.id
            """, (SEATS_TAKEN,)).fetchall()
    problems = [f"{number} {cabin}: capacity {capacity}, left {left}, held/sold {taken}"
                for number, cabin, capacity, left, taken in rows if left < 0 or left + taken != capacity]
    return len(rows), problems


def provider_captured(sandbox_url: str) -> dict[str, int]:
    """Net money the provider holds per booking: succeeded charges, captured minus refunded."""
    with psycopg.connect(sandbox_url) as connection:
        rows = connection.execute(
            """
            SELECT body->'metadata'->>'bookingId',
                   SUM((body->>'amount_captured')::bigint - (body->>'amount_refunded')::bigint)
            FROM stripe_sandbox.objects
            WHERE object = 'charge' AND body->>'status' = 'succeeded'
            GROUP BY 1
            """).fetchall()
    return {str(booking): int(amount) for booking, amount in rows}


def undelivered(sandbox_url: str) -> tuple[int, int]:
    """Events the sandbox is still retrying, and those it gave up on."""
    with psycopg.connect(sandbox_url) as connection:
        counts = dict(connection.execute("SELECT status, count(*) FROM stripe_sandbox.deliveries GROUP BY status"
                                         ).fetchall())
    return int(counts.get("pending", 0)), int(counts.get("failed", 0))


def money_and_status_problems(ais_url: str, captured: dict[str, int]) -> tuple[int, list[str]]:
    with psycopg.connect(ais_url) as connection:
        ledger = dict(connection.execute(
            "SELECT booking_id::text, SUM(CASE type " + " ".join(
                f"WHEN '{kind}' THEN {sign} * amount_minor" for kind, sign in SIGNED.items())
            + " ELSE 0 END) FROM ledger_entries GROUP BY booking_id").fetchall())
        statuses = dict(connection.execute("SELECT id::text, status FROM bookings").fetchall())
    problems = []
    for booking in sorted(set(ledger) | set(captured)):
        if int(ledger.get(booking) or 0) != captured.get(booking, 0):
            problems.append(f"booking {booking}: ledger net {ledger.get(booking)} != captured {captured.get(booking)}")
    for booking in captured:
        if statuses.get(booking) not in CONFIRMED_OR_LATER:
            problems.append(f"booking {booking} was paid at the provider but is {statuses.get(booking)}")
    return len(statuses), problems


def check_invariants(ais_url: str, sandbox_url: str, *, settle_seconds: float = 300) -> Invariants:
    """The seats at once; the money and the statuses once the sandbox is done with every event (its
    retries included) and AIS processed them, or after `settle_seconds`."""
    result = Invariants()
    result.cabins, seats = seat_problems(ais_url)
    started = time.monotonic()
    while True:
        captured = provider_captured(sandbox_url)
        result.bookings, money = money_and_status_problems(ais_url, captured)
        result.pending_deliveries, result.failed_deliveries = undelivered(sandbox_url)
        if not result.pending_deliveries and (not money or time.monotonic() - started > 10):
            break  # nothing left in flight (a moment more for AIS to process the last ones)
        if time.monotonic() - started > settle_seconds:
            break
        time.sleep(1)
    result.waited_seconds = time.monotonic() - started
    result.paid_at_provider = len(captured)
    result.problems = seats + money
    return result


# --- the sandbox's own throughput -------------------------------------------------------------


def _checkout_form(index: int, return_base: str) -> str:
    """What AIS's `pay` sends (a Checkout Session for one booking), form-encoded as the SDK does."""
    booking = str(uuid.uuid4())
    return urlencode({
        "mode": "payment", "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "sar", "line_items[0][price_data][unit_amount]": str(45000 + index),
        "line_items[0][price_data][product_data][name]": f"Booking L{index:05d}",
        "metadata[bookingId]": booking, "payment_intent_data[metadata][bookingId]": booking,
        "client_reference_id": booking, "customer_email": f"burst{index}@example.com",
        "success_url": f"{return_base}/payments/success?booking={booking}",
        "cancel_url": f"{return_base}/payments/cancelled?booking={booking}",
    })


@dataclass
class Burst:
    requests: int
    seconds: float
    failures: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def _burst(base: str, secret_key: str, clients: int, seconds: float, return_base: str) -> Burst:
    headers = {"Authorization": f"Bearer {secret_key}", "Content-Type": "application/x-www-form-urlencoded"}
    counter, done, failures = iter(range(10**9)), [0], [0]
    stop_at = time.monotonic() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < stop_at:
            index = next(counter)
            response = await http.post("/_sandbox/stripe/v1/checkout/sessions",
                                       content=_checkout_form(index, return_base),
                                       headers={**headers, "Idempotency-Key": f"burst-{uuid.uuid4()}"})
            if response.status_code == 200:
                done[0] += 1
            else:
                failures[0] += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        started = time.monotonic()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        took = time.monotonic() - started
    return Burst(done[0], took, failures[0])


def sandbox_burst(base: str, secret_key: str, return_base: str, *, clients: int = 16, seconds: float = 5) -> Burst:
    """Checkout Sessions created per second by the sandbox alone (the call `pay` makes), after the
    load: its ceiling on this machine, to compare with what the load asked of it."""
    return asyncio.run(_burst(base, secret_key, clients, seconds, return_base))
