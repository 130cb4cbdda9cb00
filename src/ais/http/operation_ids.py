"""Readable `operationId`s (SPEC §7): SDK generators name their methods after them.

They are a public contract like the paths, so they live in one table: the SDK surface reads in
one place, and renaming a Python function never renames a method in the apps' SDKs. A route
missing from the table still gets a readable id from its function name (`adminXxx` under the
admin prefix), never FastAPI's `search_flights_api_v1_flights_search_get`; the OpenAPI tests
insist on the table.
"""

from __future__ import annotations

from fastapi.routing import APIRoute
from pydantic.alias_generators import to_camel

ADMIN_PREFIX = "/api/v1/admin/"

OPERATION_IDS: dict[tuple[str, str], str] = {
    ("GET", "/health/live"): "getLiveness",
    ("GET", "/health/ready"): "getReadiness",
    # identity
    ("POST", "/api/v1/auth/register"): "register",
    ("POST", "/api/v1/auth/login"): "login",
    ("POST", "/api/v1/auth/refresh"): "refreshTokens",
    ("POST", "/api/v1/auth/logout"): "logout",
    ("POST", "/api/v1/auth/logout-all"): "logoutAll",
    ("GET", "/api/v1/me"): "getMe",
    # flights
    ("GET", "/api/v1/airports"): "listAirports",
    ("GET", "/api/v1/flights/search"): "searchFlights",
    ("POST", "/api/v1/flights/search"): "searchFlightsPost",
    ("GET", "/api/v1/flights/{flight_id}"): "getFlight",
    # bookings and payments
    ("POST", "/api/v1/bookings"): "createBooking",
    ("GET", "/api/v1/bookings"): "listBookings",
    ("GET", "/api/v1/bookings/{booking_id}"): "getBooking",
    ("POST", "/api/v1/bookings/{booking_id}/pay"): "payBooking",
    ("POST", "/api/v1/bookings/{booking_id}/cancel"): "cancelBooking",
    ("POST", "/api/v1/bookings/{booking_id}/check-in"): "checkIn",
    ("GET", "/api/v1/bookings/{booking_id}/boarding-passes"): "getBoardingPasses",
    ("POST", "/webhooks/stripe"): "receiveStripeWebhook",
    # staff
    ("POST", "/api/v1/admin/flights"): "adminCreateFlight",
    ("PATCH", "/api/v1/admin/flights/{flight_id}"): "adminUpdateFlight",
    ("GET", "/api/v1/admin/bookings"): "adminListBookings",
    ("GET", "/api/v1/admin/bookings/{booking_id}"): "adminGetBooking",
    ("POST", "/api/v1/admin/bookings/{booking_id}/board"): "adminBoardBooking",
    ("POST", "/api/v1/admin/bookings/{booking_id}/refunds"): "adminRefundBooking",
    ("GET", "/api/v1/admin/ledger"): "adminListLedgerEntries",
    ("GET", "/api/v1/admin/provider-events"): "adminListProviderEvents",
    ("POST", "/api/v1/admin/provider-events/{event_id}/replay"): "adminReplayProviderEvent",
    ("GET", "/api/v1/admin/audit-log"): "adminListAuditLog",
    ("POST", "/api/v1/admin/reconciliation"): "adminRunReconciliation",
    ("GET", "/api/v1/admin/users"): "adminListUsers",
    ("PATCH", "/api/v1/admin/users/{user_id}"): "adminUpdateUser",
    ("GET", "/api/v1/admin/maintenance"): "adminGetMaintenance",
    ("PUT", "/api/v1/admin/maintenance"): "adminSetMaintenance",
}


def operation_id(route: APIRoute) -> str:
    """FastAPI's `generate_unique_id_function`: the table's id, else one made from the name."""
    for method in sorted(route.methods or ()):
        known = OPERATION_IDS.get((method, route.path_format))
        if known is not None:
            return known
    name = to_camel(route.name)
    name = name[:1].lower() + name[1:]
    if route.path_format.startswith(ADMIN_PREFIX) and not name.startswith("admin"):
        name = "admin" + name[:1].upper() + name[1:]
    return name
