"""SPEC §7, for SDK generators: every operation has a readable, unique `operationId`, and
`Idempotency-Key` is declared required exactly where the server requires it."""

from __future__ import annotations

import re

from ais.http.operation_ids import OPERATION_IDS
from tests.factories import book, booking_body, new_flight, new_user
from tests.ops.contract import assert_error

IDEMPOTENT_WRITES = {
    ("POST", "/api/v1/bookings"),
    ("POST", "/api/v1/bookings/{booking_id}/pay"),
    ("POST", "/api/v1/bookings/{booking_id}/cancel"),
    ("POST", "/api/v1/admin/bookings/{booking_id}/refunds"),
}
CAMEL_CASE = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def operations(document: dict) -> dict[tuple[str, str], dict]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
    }


async def test_every_operation_has_a_readable_unique_id(client):
    found = operations((await client.get("/openapi.json")).json())
    ids = {key: operation.get("operationId") for key, operation in found.items()}

    assert all(ids.values()), [key for key, value in ids.items() if not value]
    unreadable = {key: value for key, value in ids.items() if not CAMEL_CASE.match(value)}
    assert not unreadable, unreadable
    assert len(set(ids.values())) == len(ids), sorted(ids.values())
    # The names an app developer reads in a generated SDK.
    assert ids[("GET", "/api/v1/flights/search")] == "searchFlights"
    assert ids[("POST", "/api/v1/flights/search")] == "searchFlightsPost"
    assert ids[("GET", "/api/v1/flights/{flight_id}")] == "getFlight"
    assert ids[("POST", "/api/v1/bookings")] == "createBooking"
    assert ids[("GET", "/api/v1/bookings")] == "listBookings"
    assert ids[("GET", "/api/v1/bookings/{booking_id}")] == "getBooking"
    assert ids[("POST", "/api/v1/bookings/{booking_id}/pay")] == "payBooking"
    assert ids[("POST", "/api/v1/bookings/{booking_id}/cancel")] == "cancelBooking"
    assert ids[("POST", "/api/v1/bookings/{booking_id}/check-in")] == "checkIn"
    assert ids[("POST", "/api/v1/auth/login")] == "login"
    assert ids[("POST", "/api/v1/auth/register")] == "register"
    assert ids[("POST", "/api/v1/admin/flights")] == "adminCreateFlight"
    assert all(value.startswith("admin") for (_, path), value in ids.items() if path.startswith("/api/v1/admin/"))


async def test_every_operation_id_is_explicit_in_the_table(client):
    """Ids are chosen, not derived from function names: a refactor must not rename SDK methods."""
    found = operations((await client.get("/openapi.json")).json())
    missing = sorted(key for key in found if key not in OPERATION_IDS)
    assert not missing, f"operations without an explicit id in ais.http.operation_ids: {missing}"
    stale = sorted(key for key in OPERATION_IDS if key not in found)
    assert not stale, f"ids for operations that no longer exist: {stale}"


async def test_idempotency_key_is_required_exactly_on_the_idempotent_writes(client):
    found = operations((await client.get("/openapi.json")).json())
    declared = {}
    for key, operation in found.items():
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "header" and parameter["name"].lower() == "idempotency-key":
                declared[key] = parameter.get("required", False)
    assert declared == dict.fromkeys(IDEMPOTENT_WRITES, True)
    for key in IDEMPOTENT_WRITES:
        assert "400" in found[key]["responses"], key
        examples = found[key]["responses"]["400"]["content"]["application/json"]["examples"]
        assert "IDEMPOTENCY_KEY_REQUIRED" in examples, key


async def test_a_write_without_the_key_is_400_in_the_contract_shape(client, runtime):
    """Required in the document, yet the answer stays the contract's 400, not the framework's 422."""
    passenger = await new_user(client)
    admin = await new_user(client, runtime, admin=True)
    flight = await new_flight(runtime)
    booking = (await book(client, passenger, flight)).json()

    attempts = [
        await client.post("/api/v1/bookings", json=booking_body(flight), headers=passenger.headers),
        await client.post(f"/api/v1/bookings/{booking['id']}/pay", headers=passenger.headers),
        await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=passenger.headers),
        await client.post(f"/api/v1/admin/bookings/{booking['id']}/refunds", json={"reason": "goodwill"},
                          headers=admin.headers),
    ]
    for response in attempts:
        body = assert_error(response, 400, "IDEMPOTENCY_KEY_REQUIRED")
        assert body["retryable"] is False
    # An empty key is no key either.
    empty = await client.post("/api/v1/bookings", json=booking_body(flight),
                              headers={**passenger.headers, "Idempotency-Key": ""})
    assert_error(empty, 400, "IDEMPOTENCY_KEY_REQUIRED")
    # Nothing happened: the booking is still held, and no second booking was made.
    mine = (await client.get("/api/v1/bookings", headers=passenger.headers)).json()["items"]
    assert [(b["id"], b["status"]) for b in mine] == [(booking["id"], "reserved")]


async def test_a_bad_body_without_the_key_lists_every_problem(client, runtime):
    passenger = await new_user(client)
    response = await client.post("/api/v1/bookings", json={"cabin": "first"}, headers=passenger.headers)
    body = assert_error(response, 422, "VALIDATION_ERROR")
    fields = {error["field"] for error in body["details"]["errors"]}
    assert "header.Idempotency-Key" in fields and "body.flightId" in fields
