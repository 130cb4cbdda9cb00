"""docs/mobile-api.md cannot drift from the API: its request examples are sent, in the order an
app makes them, to a real server whose payment sandbox confirms bookings through signed
webhooks, and each answer is compared with the one the guide shows (tests/docs/guide.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.docs.guide import Walk, examples
from tests.factories import new_flight

# The guide's own literals, replaced in each run: its passenger's e-mail and its search date.
GUIDE_EMAIL = "layla@example.com"
GUIDE_DATE = "2026-12-15"

MAIN_FLOW = [
    "airports", "register", "login", "me", "search", "search-unknown-airport", "flight", "create-booking",
    "create-booking-replay", "create-booking-mismatch", "create-booking-without-key", "pay", "booking-confirmed",
    "boarding-passes-before-check-in", "list-bookings", "list-bookings-next-page", "refresh", "refresh-reuse",
]
CHECK_IN_FLOW = ["register", "login", "create-booking", "pay", "booking-confirmed", "check-in", "boarding-passes",
                 "logout", "logout-all"]
DECLINE_AND_CANCEL_FLOW = ["register", "login", "create-booking", "pay", "pay-again", "booking-confirmed", "cancel"]


def test_every_request_example_in_the_guide_is_run_by_a_flow():
    assert set(MAIN_FLOW + CHECK_IN_FLOW + DECLINE_AND_CANCEL_FLOW) == set(examples())


def _walk(http: httpx.AsyncClient) -> Walk:
    return Walk(http, replacements={GUIDE_EMAIL: f"guide-{uuid.uuid4().hex[:10]}@example.com"})


async def _signed_in(walk: Walk) -> None:
    assert (await walk.send("register")).status_code == 201
    tokens = (await walk.send("login")).json()
    walk.variables.update(accessToken=tokens["accessToken"], refreshToken=tokens["refreshToken"])


def _bearer(walk: Walk) -> dict[str, str]:
    return {"Authorization": f"Bearer {walk.variables['accessToken']}"}


async def _booking_status(walk: Walk, status: str, timeout: float = 15) -> dict[str, Any]:
    """What step 4 of "Paying" tells the app to do: read the booking until it settles."""
    deadline = time.monotonic() + timeout
    while True:
        booking = (await walk.client.get(f"/api/v1/bookings/{walk.variables['bookingId']}",
                                         headers=_bearer(walk))).json()
        if booking["status"] == status:
            return booking  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"still {booking['status']}, not {status}"
        await asyncio.sleep(0.1)


async def _on_the_checkout_page(walk: Walk, checkout_url: str, outcome: str) -> str:
    """The passenger in the browser tab: the hosted page, Pay (or Decline), and the return page
    the app recognises by its path. Returns that path."""
    page = await walk.client.get(checkout_url)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    pressed = await walk.client.post(checkout_url, data={"outcome": outcome})
    assert pressed.status_code == 303
    back = urlsplit(pressed.headers["location"])
    assert parse_qs(back.query)["booking"] == [walk.variables["bookingId"]]
    shown = await walk.client.get(pressed.headers["location"])
    assert shown.status_code == 200 and walk.variables["reference"] in shown.text
    return back.path


async def _book(walk: Walk) -> httpx.Response:
    created = await walk.send("create-booking")
    walk.variables.update(bookingId=created.json()["id"], reference=created.json()["reference"])
    return created


async def test_the_guides_main_flow_runs_against_the_real_api(guide_server, runtime):
    flight = await new_flight(runtime, departs_in=timedelta(days=3))
    async with httpx.AsyncClient(base_url=guide_server, timeout=30) as http:
        walk = _walk(http)
        departure = (await http.get(f"/api/v1/flights/{flight.id}")).json()["departureTime"]
        walk.replacements[GUIDE_DATE] = departure[:10]  # the local date at the origin

        await walk.send("airports")
        await _signed_in(walk)
        await walk.send("me")

        found = (await walk.send("search")).json()["flights"]
        assert flight.id in [offer["id"] for offer in found]
        walk.variables["flightId"] = flight.id
        await walk.send("search-unknown-airport")
        await walk.send("flight")

        created = await _book(walk)
        replayed = await walk.send("create-booking-replay")
        assert replayed.content == created.content  # byte for byte
        await walk.send("create-booking-mismatch")
        await walk.send("create-booking-without-key")

        checkout = (await walk.send("pay")).json()
        assert await _on_the_checkout_page(walk, checkout["checkoutUrl"], "succeeded") == "/payments/success"
        await _booking_status(walk, "confirmed")
        booking = (await walk.send("booking-confirmed")).json()
        assert all(passenger["ticketNumber"] for passenger in booking["passengers"])
        await walk.send("boarding-passes-before-check-in")

        page = (await walk.send("list-bookings")).json()
        assert [item["id"] for item in page["items"]] == [walk.variables["bookingId"]]
        walk.variables["nextCursor"] = page["nextCursor"]
        await walk.send("list-bookings-next-page")

        rotated = (await walk.send("refresh")).json()
        assert rotated["refreshToken"] != walk.variables["refreshToken"]
        walk.variables.update(usedRefreshToken=walk.variables["refreshToken"], refreshToken=rotated["refreshToken"],
                              accessToken=rotated["accessToken"])
        await walk.send("refresh-reuse")
        # Reuse revoked the device's whole chain: the newest refresh token is dead too.
        newest = await http.post("/api/v1/auth/refresh", json={"refreshToken": rotated["refreshToken"]})
        assert newest.status_code == 401 and newest.json()["code"] == "UNAUTHORIZED"

    assert list(dict.fromkeys(walk.ran)) == MAIN_FLOW


async def test_the_guides_check_in_boarding_passes_and_logout(guide_server, runtime):
    flight = await new_flight(runtime, departs_in=timedelta(hours=5))  # check-in is open
    async with httpx.AsyncClient(base_url=guide_server, timeout=30) as http:
        walk = _walk(http)
        await _signed_in(walk)
        walk.variables["flightId"] = flight.id
        await _book(walk)
        checkout = (await walk.send("pay")).json()
        await _on_the_checkout_page(walk, checkout["checkoutUrl"], "succeeded")
        await _booking_status(walk, "confirmed")
        await walk.send("booking-confirmed")

        checked_in = (await walk.send("check-in")).json()
        again = (await walk.send("boarding-passes")).json()
        assert again["boardingPasses"] == checked_in["boardingPasses"]  # the same bytes, e.g. after a reinstall
        assert len(again["boardingPasses"]) == 2
        # What the guide says about repeats: check-in twice and cancel after check-in are refused.
        twice = await http.post(f"/api/v1/bookings/{walk.variables['bookingId']}/check-in", headers=_bearer(walk))
        assert (twice.status_code, twice.json()["code"]) == (409, "INVALID_STATE_TRANSITION")
        cancel = await http.post(f"/api/v1/bookings/{walk.variables['bookingId']}/cancel",
                                 headers={**_bearer(walk), "Idempotency-Key": str(uuid.uuid4())})
        assert (cancel.status_code, cancel.json()["code"]) == (409, "INVALID_STATE_TRANSITION")

        await walk.send("logout")
        signed_out = await http.post("/api/v1/auth/refresh", json={"refreshToken": walk.variables["refreshToken"]})
        assert signed_out.status_code == 401

        # A second device, then "sign out everywhere" from it.
        tokens = (await walk.send("login")).json()
        walk.variables.update(accessToken=tokens["accessToken"], refreshToken=tokens["refreshToken"])
        await walk.send("logout-all")
        everywhere = await http.post("/api/v1/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
        assert everywhere.status_code == 401

    assert list(dict.fromkeys(walk.ran)) == CHECK_IN_FLOW


async def test_the_guides_declined_payment_new_attempt_and_cancellation(guide_server, runtime):
    flight = await new_flight(runtime, departs_in=timedelta(days=4))
    async with httpx.AsyncClient(base_url=guide_server, timeout=30) as http:
        walk = _walk(http)
        await _signed_in(walk)
        walk.variables["flightId"] = flight.id
        await _book(walk)

        first = (await walk.send("pay")).json()
        assert await _on_the_checkout_page(walk, first["checkoutUrl"], "declined") == "/payments/cancelled"
        await _booking_status(walk, "payment_failed")
        # The same key is a replay of the first attempt: the same (declined) checkout.
        replay = await walk.send("pay")
        assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == first
        second = (await walk.send("pay-again")).json()
        assert second["sessionId"] != first["sessionId"]
        assert await _on_the_checkout_page(walk, second["checkoutUrl"], "succeeded") == "/payments/success"
        await _booking_status(walk, "confirmed")
        await walk.send("booking-confirmed")

        cancelled = await walk.send("cancel")
        assert (await walk.send("cancel")).content == cancelled.content  # a retry replays the first answer
        refunded = await _booking_status(walk, "refunded")
        assert [change["to"] for change in refunded["statusHistory"]][-2:] == ["cancelled", "refunded"]
        again = await http.post(f"/api/v1/bookings/{walk.variables['bookingId']}/cancel",
                                headers={**_bearer(walk), "Idempotency-Key": str(uuid.uuid4())})
        assert (again.status_code, again.json()["code"]) == (409, "INVALID_STATE_TRANSITION")

    assert list(dict.fromkeys(walk.ran)) == DECLINE_AND_CANCEL_FLOW
