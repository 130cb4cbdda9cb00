"""Imports every model so that the metadata sees the whole schema: the one place every entry point
(the app and each CLI command through `ais.wiring`, Alembic) loads the models from. It sits at the
top with the composition root: it imports every domain's models, so nothing below may import it. A process that loads
only some model modules fails on the first query whose foreign keys reach a table it never loaded
(`NoReferencedTableError`)."""

from ais.audit.models import AuditEntry
from ais.bookings.models import Booking, BookingStatusChange, Passenger
from ais.db.base import Base
from ais.flights.models import Airport, Cabin, Flight
from ais.idempotency.models import IdempotencyRecord
from ais.identity.models import RefreshToken, User
from ais.jobs.models import EmbeddedJob, JobFailure
from ais.ledger.models import LedgerEntry
from ais.maintenance.models import MaintenanceSwitch
from ais.notifications.models import OutboxMessage
from ais.payments.models import Payment, ProviderEvent, Refund

__all__ = [
    "Airport",
    "AuditEntry",
    "Base",
    "Booking",
    "BookingStatusChange",
    "Cabin",
    "EmbeddedJob",
    "Flight",
    "IdempotencyRecord",
    "JobFailure",
    "LedgerEntry",
    "MaintenanceSwitch",
    "OutboxMessage",
    "Passenger",
    "Payment",
    "ProviderEvent",
    "RefreshToken",
    "Refund",
    "User",
]
