"""Prometheus metrics: request latency by route, bookings by status, jobs."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUEST_LATENCY = Histogram(
    "ais_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BOOKING_TRANSITIONS = Counter(
    "ais_booking_transitions_total", "Booking status transitions.", ["to_status"]
)
SEATS_UNAVAILABLE = Counter("ais_seats_unavailable_total", "Bookings refused for lack of seats.")
JOB_RUNS = Counter("ais_job_runs_total", "Periodic job runs.", ["job", "outcome"])
WEBHOOK_EVENTS = Counter("ais_webhook_events_total", "Stripe events by type and outcome.", ["type", "outcome"])
CACHE_LOOKUPS = Counter("ais_cache_lookups_total", "Search cache lookups.", ["outcome"])


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
