"""Imports every model so that the metadata (Alembic, tests) sees the whole schema."""

from ais.audit.models import AuditEntry
from ais.bookings.models import Booking, BookingStatusChange, Passenger
from ais.db.base import Base
from ais.flights.models import Airport, Cabin, Flight
from ais.idempotency.models import IdempotencyRecord
from ais.identity.models import RefreshToken, User
from ais.ledger.models import LedgerEntry
from ais.notifications.models import OutboxMessage
from ais.payments.models import Payment, ProviderEvent, Refund

__all__ = [
    "Airport", "AuditEntry", "Base", "Booking", "BookingStatusChange", "Cabin", "Flight",
    "IdempotencyRecord", "LedgerEntry", "OutboxMessage", "Passenger", "Payment", "ProviderEvent",
    "RefreshToken", "Refund", "User",
]
