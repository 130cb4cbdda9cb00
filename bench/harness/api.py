"""The product's API as the benchmarks call it: users registered and logged in, booking bodies,
the search request and its route-day."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from harness.seeding import SeededFlight, seed_flights

PASSWORD = "correct horse battery staple"
SEARCH_ORIGIN, SEARCH_DESTINATION, SEARCH_ZONE = "RUH", "JED", ZoneInfo("Asia/Riyadh")


async def register_users(base_url: str, count: int, prefix: str = "bench", concurrency: int = 8) -> list[str]:
    """Register and log in `count` users through the API; their access tokens. A few at a time,
    retrying what the server calls retryable: password hashing is meant to be slow, and a crowd
    of sign-ups at once is answered 503 (busy) rather than queued."""
    import httpx

    gate = asyncio.Semaphore(concurrency)

    async def post(client: httpx.AsyncClient, path: str, body: dict[str, str], expected: int) -> httpx.Response:
        for attempt in range(8):
            async with gate:
                response = await client.post(path, json=body)
            if response.status_code == expected:
                return response
            if response.status_code not in (429, 503):
                break
            await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
        raise RuntimeError(f"{path}: {response.status_code} {response.text}")

    async def one(client: httpx.AsyncClient) -> str:
        email = f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"
        await post(client, "/api/v1/auth/register",
                   {"email": email, "password": PASSWORD, "fullName": "Bench Passenger"}, 201)
        response = await post(client, "/api/v1/auth/login",
                              {"email": email, "password": PASSWORD, "deviceName": "bench"}, 200)
        return str(response.json()["accessToken"])

    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        return list(await asyncio.gather(*(one(client) for _ in range(count))))


def booking_body(flight: SeededFlight, passengers: int = 1) -> bytes:
    return json.dumps({
        "flightId": flight.flight_id,
        "cabin": "economy",
        "passengers": [{"firstName": f"Sara{i}", "lastName": "Alharbi", "type": "adult"} for i in range(passengers)],
        "contactEmail": "sara@example.com",
    }).encode()


def search_day() -> datetime:
    return datetime.now(SEARCH_ZONE).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=5)


async def seed_search_flights(dsn: str) -> str:
    """Four more RUH→JED flights on the search day, besides the demo timetable's one a day, so the
    search answers five flights, like the bare endpoint's five rows. The search path."""
    day = search_day()
    await seed_flights(dsn, [
        {"capacity": 180, "number": f"XY{100 + i}", "origin": SEARCH_ORIGIN, "destination": SEARCH_DESTINATION,
         "departure": datetime.combine(day.date(), time(9 + 3 * i), tzinfo=SEARCH_ZONE).astimezone(UTC)}
        for i in range(4)
    ])
    return (f"/api/v1/flights/search?from={SEARCH_ORIGIN}&to={SEARCH_DESTINATION}&date={day.date().isoformat()}"
            "&passengers=1&cabin=economy")
