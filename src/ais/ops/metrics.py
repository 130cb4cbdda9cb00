"""Prometheus metrics: request latency by route, bookings by status, webhooks, cache, jobs.

Under `ais serve` and `ais worker` prometheus-client runs in multiprocess mode
(`ais.ops.metrics_dir`): every process writes its own files and `render` merges them, so one scrape
sees every worker process of the server, the jobs they run included. Without the directory (tests,
a bare `create_app`) the process's own registry is rendered.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from ais.ops import metrics_dir

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
JOB_RUNS = Counter("ais_job_runs_total", "Job runs by task and outcome.", ["task", "outcome"])
JOB_DURATION = Histogram(
    "ais_job_duration_seconds",
    "Job run duration by task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
# Sampled by every worker (and the embedded executor) every few seconds; a scrape shows the latest sample.
JOB_QUEUE_DEPTH = Gauge("ais_jobs_queue_depth", "Jobs waiting (todo) or running (doing), by queue.",
                        ["queue", "status"], multiprocess_mode="mostrecent")
WEBHOOK_EVENTS = Counter("ais_webhook_events_total", "Stripe events by type and outcome.", ["type", "outcome"])
# Time spent waiting on the payment provider (Stripe, or the sandbox), retries included.
PROVIDER_CALLS = Histogram(
    "ais_payment_provider_call_duration_seconds",
    "Payment provider calls by operation and outcome (ok, unavailable, rejected).",
    ["operation", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
CACHE_LOOKUPS = Counter("ais_cache_lookups_total", "Search cache lookups.", ["outcome"])


def registry() -> CollectorRegistry:
    """What a scrape shows: the merged files of every process in multiprocess mode, else this process."""
    if metrics_dir.current() is None:
        return REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    return merged


def render() -> tuple[bytes, str]:
    return generate_latest(registry()), CONTENT_TYPE_LATEST


def process_exiting() -> None:
    """Drop this process's live gauges from the merged view (its counters and histograms stay:
    what it counted still happened)."""
    if metrics_dir.current() is not None:
        multiprocess.mark_process_dead(os.getpid())
