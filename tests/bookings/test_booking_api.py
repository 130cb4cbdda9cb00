"""Passenger booking routes: create, read own, list, cancel before payment (SPEC §4, §7, §11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.bookings.support import seats_left
from tests.factories import book, booking_body, idempotency_key, new_flight

CONTRACT_KEYS = {"code", "message", "correlationId", "retryable", "details"}


async def test_create_holds_seats_and_answers_the_contract_shape(client, runtime, passenger):
    flight = await new_flight(runtime, economy_seats=10, economy_fare_minor=45000)
    response = await book(client, passenger, flight, count=2)
    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["status"] == "reserved"
    assert len(booking["reference"]) == 6
    assert booking["totalAmount"] == "900.00" and booking["currency"] == "SAR"
    assert booking["flight"]["flightNumber"] == flight.flight_number
    assert booking["flight"]["from"] == "RUH" and booking["flight"]["to"] == "JED"
    assert booking["flight"]["departureTime"].endswith("+03:00")  # Riyadh local time
    assert [p["ticketNumber"] for p in booking["passengers"]] == [None, None]
    expires = datetime.fromisoformat(booking["expiresAt"])
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)
    assert booking["statusHistory"][-1]["from"] == "initiated"
    assert booking["statusHistory"][-1]["to"] == "reserved"
    assert await seats_left(runtime, flight.economy_cabin_id) == 8


async def test_lap_infants_take_no_seat_and_pay_a_tenth(client, runtime, passenger):
    flight = await new_flight(runtime, economy_seats=2, economy_fare_minor=45000)
    response = await book(client, passenger, flight, count=2, infants=2)
    assert response.status_code == 201, response.text
    assert response.json()["totalAmount"] == "990.00"
    assert await seats_left(runtime, flight.economy_cabin_id) == 0


async def test_exponent_aware_totals(client, runtime, passenger):
    for currency, fare, expected in (("JPY", 15000, "30000"), ("KWD", 12345, "24.690"), ("SAR", 123450, "2469.00")):
        flight = await new_flight(runtime, economy_fare_minor=fare, currency=currency)
        response = await book(client, passenger, flight, count=2)
        assert response.status_code == 201, response.text
        assert (response.json()["totalAmount"], response.json()["currency"]) == (expected, currency)


async def test_bad_requests_get_contract_errors_and_take_no_seats(client, runtime, passenger):
    flight = await new_flight(runtime, economy_seats=5)
    cases = [
        ({**booking_body(flight), "passengers": []}, 422, "VALIDATION_ERROR"),
        (booking_body(flight, count=10), 422, "VALIDATION_ERROR"),
        ({**booking_body(flight, count=1), "passengers": [{"firstName": "B", "lastName": "C", "type": "infant"}]},
         422, "VALIDATION_ERROR"),
        ({**booking_body(flight), "cabin": "first"}, 422, "VALIDATION_ERROR"),
        ({**booking_body(flight), "contactEmail": "not-an-email"}, 422, "VALIDATION_ERROR"),
        ({**booking_body(flight), "flightId": "not-a-uuid"}, 422, "VALIDATION_ERROR"),
        ({**booking_body(flight), "unknownField": 1}, 422, "VALIDATION_ERROR"),
        (booking_body("00000000-0000-4000-8000-000000000000"), 404, "NOT_FOUND"),
        (booking_body(flight, count=6), 409, "SEATS_UNAVAILABLE"),
    ]
    for body, status, code in cases:
        response = await client.post("/api/v1/bookings", json=body, headers={**passenger.headers, **idempotency_key()})
        assert response.status_code == status, (body, response.text)
        assert set(response.json()) == CONTRACT_KEYS
        assert response.json()["code"] == code
    assert await seats_left(runtime, flight.economy_cabin_id) == 5


async def test_flight_closing_within_the_hour_is_not_bookable(client, runtime, passenger):
    flight = await new_flight(runtime, departs_in=timedelta(minutes=50))
    response = await book(client, passenger, flight)
    assert response.status_code == 409
    assert response.json()["code"] == "BOOKING_CONFLICT"


async def test_read_own_booking_by_id_or_reference_but_never_anothers(client, runtime, passenger, other_passenger):
    flight = await new_flight(runtime)
    booking = (await book(client, passenger, flight)).json()
    for key in (booking["id"], booking["reference"], booking["reference"].lower()):
        response = await client.get(f"/api/v1/bookings/{key}", headers=passenger.headers)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == booking["id"]
    for key in (booking["id"], booking["reference"]):
        response = await client.get(f"/api/v1/bookings/{key}", headers=other_passenger.headers)
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"
    cancel = await client.post(f"/api/v1/bookings/{booking['id']}/cancel",
                               headers={**other_passenger.headers, **idempotency_key()})
    assert cancel.status_code == 404
    check_in = await client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=other_passenger.headers)
    assert check_in.status_code == 404
    assert (await client.get(f"/api/v1/bookings/{booking['id']}")).status_code == 401
    assert (await client.get("/api/v1/bookings/ZZZZZZ", headers=passenger.headers)).status_code == 404
    assert (await client.get("/api/v1/bookings/..%2f..", headers=passenger.headers)).status_code == 404


async def test_list_is_own_newest_first_and_paginated(client, runtime, passenger, other_passenger):
    flight = await new_flight(runtime)
    made = [(await book(client, passenger, flight)).json()["id"] for _ in range(5)]
    await book(client, other_passenger, flight)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/bookings", params=params, headers=passenger.headers)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert seen == list(reversed(made))
    bad = await client.get("/api/v1/bookings", params={"cursor": "garbage!"}, headers=passenger.headers)
    assert bad.status_code == 422 and bad.json()["code"] == "VALIDATION_ERROR"


async def test_cancel_before_payment_gives_seats_back_once(client, runtime, passenger):
    flight = await new_flight(runtime, economy_seats=4)
    booking = (await book(client, passenger, flight, count=3)).json()
    assert await seats_left(runtime, flight.economy_cabin_id) == 1
    key = idempotency_key()
    first = await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers={**passenger.headers, **key})
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "cancelled"
    assert [h["to"] for h in first.json()["statusHistory"]] == ["reserved", "cancelled"]
    assert await seats_left(runtime, flight.economy_cabin_id) == 4
    replay = await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers={**passenger.headers, **key})
    assert replay.content == first.content
    again = await client.post(f"/api/v1/bookings/{booking['id']}/cancel",
                              headers={**passenger.headers, **idempotency_key()})
    assert again.status_code == 409
    assert again.json()["code"] == "INVALID_STATE_TRANSITION"
    assert await seats_left(runtime, flight.economy_cabin_id) == 4


async def test_passenger_is_forbidden_on_admin_routes(client, runtime, passenger):
    flight = await new_flight(runtime)
    booking = (await book(client, passenger, flight)).json()
    for method, path in (("GET", "/api/v1/admin/bookings"), ("GET", f"/api/v1/admin/bookings/{booking['id']}"),
                         ("POST", f"/api/v1/admin/bookings/{booking['id']}/board")):
        response = await client.request(method, path, headers=passenger.headers)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["code"] == "FORBIDDEN"


async def test_admin_finds_any_booking_by_filters(client, runtime, passenger, admin):
    flight = await new_flight(runtime)
    booking = (await book(client, passenger, flight)).json()
    by_reference = await client.get("/api/v1/admin/bookings", params={"reference": booking["reference"]},
                                    headers=admin.headers)
    assert [b["id"] for b in by_reference.json()["items"]] == [booking["id"]]
    by_flight = await client.get("/api/v1/admin/bookings", params={"flightId": flight.id, "status": "reserved"},
                                 headers=admin.headers)
    assert [b["id"] for b in by_flight.json()["items"]] == [booking["id"]]
    direct = await client.get(f"/api/v1/admin/bookings/{booking['reference']}", headers=admin.headers)
    assert direct.status_code == 200


async def test_cancel_and_boarding_are_in_the_audit_log(client, runtime, passenger, admin):
    flight = await new_flight(runtime)
    booking = (await book(client, passenger, flight)).json()
    await client.post(f"/api/v1/bookings/{booking['id']}/cancel",
                      headers={**passenger.headers, **idempotency_key(), "X-Correlation-Id": "audit-check-1"})
    log = await client.get("/api/v1/admin/audit-log", params={"resourceId": booking["id"]}, headers=admin.headers)
    assert log.status_code == 200
    [entry] = log.json()["items"]
    assert entry["action"] == "booking.cancel"
    assert entry["actorId"] == passenger.id and entry["actorRole"] == "passenger"
    assert entry["changes"]["status"] == ["reserved", "cancelled"]
    assert entry["correlationId"] == "audit-check-1"
    assert entry["ip"]
    forbidden = await client.get("/api/v1/admin/audit-log", headers=passenger.headers)
    assert forbidden.status_code == 403


async def test_search_sees_a_sell_out_and_seats_coming_back_at_once(client, runtime, passenger):
    from zoneinfo import ZoneInfo

    from ais.db.base import utcnow

    flight = await new_flight(runtime, origin="DXB", destination="KWI", economy_seats=2,
                              departs_in=timedelta(days=9))
    local_date = (utcnow() + timedelta(days=9)).astimezone(ZoneInfo("Asia/Dubai")).date().isoformat()
    params = {"from": "DXB", "to": "KWI", "date": local_date, "passengers": 1}

    async def listed() -> bool:
        response = await client.get("/api/v1/flights/search", params=params)
        assert response.status_code == 200, response.text
        return flight.id in {f["id"] for f in response.json()["flights"]}

    assert await listed()
    assert await listed()  # now served from the cache
    booking = (await book(client, passenger, flight, count=2)).json()
    assert not await listed()  # the sell-out invalidated the cache
    await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers={**passenger.headers, **idempotency_key()})
    assert await listed()  # the seats came back, and search shows them without waiting for the TTL


async def test_a_record_locator_collision_draws_a_new_one(client, runtime, passenger, monkeypatch):
    from ais.bookings import identifiers, service

    flight = await new_flight(runtime)
    taken = (await book(client, passenger, flight)).json()["reference"]
    draws = iter([taken, taken, "ZZ2345"])
    monkeypatch.setattr(service, "new_reference", lambda: next(draws))
    headers = {**passenger.headers, **idempotency_key()}
    response = await client.post("/api/v1/bookings", json=booking_body(flight), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["reference"] == "ZZ2345"
    assert identifiers.looks_like_reference("ZZ2345")
    # The clashes wrote nothing and took no seat; the stored answer names the booking made.
    replay = await client.post("/api/v1/bookings", json=booking_body(flight), headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.content == response.content
    detail = (await client.get(f"/api/v1/flights/{flight.id}")).json()
    economy = next(cabin for cabin in detail["cabins"] if cabin["cabin"] == "economy")
    assert economy["availableSeats"] == economy["capacity"] - 2, detail
