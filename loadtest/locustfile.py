"""The seeds' load scenario (SPEC §10), for locust; `loadtest/run.py` prepares and starts it.

A search spike first: users arrive ramping to half the peak, stay, then ramp to the peak, and
search only (the seeds' k6 stages: 50, then 100). Then, at the peak, every user books and pays
in a loop as a passenger's app does: search, book the chosen flight (`POST /bookings` with an
Idempotency-Key), open the checkout (`POST /bookings/{id}/pay`), pay on the hosted checkout page
(`POST` its form with `outcome=succeeded`: the payment sandbox, Stripe's stand-in, answers 303 to
the API's return page) and land on that page. Pauses follow the seeds' script: 1 s after a
search, 2 s after a booking.

The accounts log in before the ramp (their tokens are in the plan), so logins are not part of
the measured load. Every answer is checked (its status, and the fields the next step needs):
anything else is a failure in the figures.

The plan comes from the file named by LOADTEST_PLAN (JSON, written by run.py).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

from locust import LoadTestShape, between, events, task
from locust.contrib.fasthttp import FastHttpUser

PLAN: dict[str, Any] = json.loads(Path(os.environ["LOADTEST_PLAN"]).read_text())
ACCOUNTS = itertools.cycle(PLAN["accounts"])
FLIGHTS: list[dict[str, str]] = PLAN["flights"]
FLIGHT_IDS = {flight["id"] for flight in FLIGHTS}
SEARCH_SPIKE, BOOK_AND_PAY = "search spike", "book and pay"
# Access tokens live 15 minutes (ACCESS_TOKEN_MINUTES): log in again a little before.
TOKEN_LIFETIME_SECONDS = 13 * 60


def stages(peak: int, run_time: float) -> list[tuple[float, int, float, str]]:
    """(ends at second, users, spawn rate per second, phase): ramp to half the peak, hold, ramp to
    the peak (the search spike, 45% of the run), then bookings and payments at the peak."""
    half = max(1, peak // 2)
    ramp = max(1.0, 0.15 * run_time)
    hold = max(1.0, 0.15 * run_time)
    return [
        (ramp, half, half / ramp, SEARCH_SPIKE),
        (ramp + hold, half, half / ramp, SEARCH_SPIKE),
        (2 * ramp + hold, peak, max(1.0, (peak - half) / ramp), SEARCH_SPIKE),
        (run_time, peak, max(1.0, (peak - half) / ramp), BOOK_AND_PAY),
    ]


STAGES = stages(int(PLAN["peak_users"]), float(PLAN["run_time_seconds"]))
_phase = {"name": SEARCH_SPIKE, "book_and_pay_started": None}


class SeedsShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        for ends_at, users, rate, phase in STAGES:
            if elapsed < ends_at:
                if phase == BOOK_AND_PAY and _phase["name"] != BOOK_AND_PAY:
                    _phase.update(name=BOOK_AND_PAY, book_and_pay_started=time.time())
                return users, rate
        return None


@events.quitting.add_listener
def _write_phases(environment: Any, **_kwargs: Any) -> None:
    """When the bookings began, for run.py's per-phase figures."""
    with open(PLAN["phases_file"], "w") as out:
        json.dump({"stages": STAGES, "book_and_pay_started": _phase["book_and_pay_started"]}, out)


class Passenger(FastHttpUser):
    wait_time = between(0.5, 1.5)
    # Enough connections for the hosted page and the API side by side, as a browser has.
    concurrency = 4

    def on_start(self) -> None:
        account = next(ACCOUNTS)
        self.email, self.password = account["email"], account["password"]
        self.token, self.token_at = account["token"], PLAN["tokens_at"]

    # --- one step each, named as an endpoint -------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if time.time() - self.token_at > TOKEN_LIFETIME_SECONDS:
            self._login()
        return {"Authorization": f"Bearer {self.token}"}

    def _login(self) -> None:
        with self.client.post("/api/v1/auth/login", json={"email": self.email, "password": self.password},
                              name="POST /auth/login (token renewal)", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                return
            self.token, self.token_at = response.json()["accessToken"], time.time()

    def search(self) -> dict[str, str]:
        flight = random.choice(FLIGHTS)
        params = {"from": flight["from"], "to": flight["to"], "date": flight["date"], "passengers": 1,
                  "cabin": "economy"}
        with self.client.get("/api/v1/flights/search", params=params, name="GET /flights/search",
                             catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                return flight
            offers = [offer for offer in response.json()["flights"] if offer["id"] in FLIGHT_IDS]
            if not offers:
                response.failure("the load flights are missing from the search answer")
                return flight
        chosen = random.choice(offers)
        return {**flight, "id": chosen["id"]}

    def book(self, flight: dict[str, str]) -> str | None:
        body = {"flightId": flight["id"], "cabin": "economy", "contactEmail": self.email,
                "passengers": [{"firstName": "Sara", "lastName": "Alharbi", "type": "adult"}]}
        headers = {**self._headers(), "Idempotency-Key": str(uuid.uuid4())}
        with self.client.post("/api/v1/bookings", json=body, headers=headers, name="POST /bookings",
                              catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                return None
            return str(response.json()["id"])

    def pay(self, booking_id: str) -> str | None:
        headers = {**self._headers(), "Idempotency-Key": str(uuid.uuid4())}
        with self.client.post(f"/api/v1/bookings/{booking_id}/pay", headers=headers,
                              name="POST /bookings/{id}/pay", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                return None
            return str(response.json()["checkoutUrl"])

    def checkout(self, checkout_url: str) -> str | None:
        """The passenger presses Pay on the hosted page (the sandbox, as Stripe's page would be)."""
        with self.client.post(checkout_url, data="outcome=succeeded", allow_redirects=False,
                              headers={"Content-Type": "application/x-www-form-urlencoded"},
                              name="POST sandbox hosted checkout", catch_response=True) as response:
            location = response.headers.get("location") or ""
            if response.status_code != 303 or "/payments/success" not in location:
                response.failure(f"HTTP {response.status_code} to {location!r}: {response.text[:200]}")
                return None
            return location

    def return_page(self, location: str) -> None:
        with self.client.get(location, name="GET /payments/success", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")

    # --- the passenger ----------------------------------------------------------------------

    @task
    def passenger_session(self) -> None:
        flight = self.search()
        if _phase["name"] != BOOK_AND_PAY:
            return  # the spike: searching only (wait_time ≈ the seeds' sleep(1))
        self.wait()
        booking_id = self.book(flight)
        if booking_id is None:
            return
        time.sleep(2)  # the seeds' sleep(2) after a booking (gevent-patched: does not block others)
        checkout_url = self.pay(booking_id)
        if checkout_url is None:
            return
        location = self.checkout(checkout_url)
        if location is not None:
            self.return_page(location)
