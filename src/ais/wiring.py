"""The composition root: the one place that knows every part and puts a process together. The app
(`ais.app.create_app`), the `ais` command and the tests build their `Runtime` here.

- Every model is loaded (`ais.models`), so any query this process runs resolves its foreign keys.
- The runtime gets the Stripe gateway as a factory and the job queue as an object: the runtime
  itself sits below the domains and imports none of them.
"""

from __future__ import annotations

import ais.models  # noqa: F401 - every model, so that any query this process runs can resolve its foreign keys
from ais.config import Settings
from ais.payments.gateway import PaymentGateway
from ais.runtime import Runtime


def create_runtime(settings: Settings) -> Runtime:
    """A process's runtime: engine, cache store, the Stripe gateway (created on first use) and the
    job queue (procrastinate on PostgreSQL, the embedded executor's table on SQLite)."""
    # Imported on use: the job queue loads every task, and with them prometheus_client, which a
    # command must import only after it has set the metrics dir (ais.ops.metrics_dir).
    from ais.jobs.queue import create_job_queue

    runtime = Runtime.create(settings, gateway_factory=_stripe_gateway)
    runtime.jobs = create_job_queue(runtime)
    return runtime


def _stripe_gateway(settings: Settings) -> PaymentGateway:
    # Imported on use, as the job queue is: the gateway's metrics import prometheus_client.
    from ais.payments.stripe_gateway import StripeGateway

    return StripeGateway(settings)
