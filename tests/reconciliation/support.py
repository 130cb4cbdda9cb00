"""Helpers of the reconciliation tests: bookings in a given state at the provider, and a snapshot
of everything a reconciliation run could change."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select, text

from ais.audit.service import Actor
from ais.bookings.models import Booking, BookingStatusChange
from ais.flights.models import Cabin
from ais.ledger.models import LedgerEntry
from ais.payments.models import Payment, ProviderEvent, Refund
from ais.reconciliation.schemas import ReconciliationDetail, ReconciliationResult
from ais.runtime import Runtime
from tests.factories import TestUser, book, new_flight
from tests.fixtures.payment_flow import complete_checkout, open_checkout

ACTOR = Actor.system("test_reconcile")
RESULT_KEYS = {"correlationId", "startedAt", "completedAt", "dryRun", "scanned", "fixed", "failed", "skipped",
               "details"}
COUNTED = ("bookings", "payments", "ledger_entries", "booking_status_history", "refunds", "stripe_events",
           "audit_log", "outbox_messages", "passengers")


async def checkout_paid_at_provider(http: httpx.AsyncClient, runtime: Runtime, user: TestUser,
                                    outcome: str = "succeeded", **flight: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Book, open the checkout and press Pay (or another outcome) on the hosted page; no event delivered."""
    booking = (await book(http, user, await new_flight(runtime, **flight))).json()
    checkout = await open_checkout(http, user, booking["id"])
    await complete_checkout(http, checkout["checkoutUrl"], outcome)
    return booking, checkout


async def snapshot(runtime: Runtime) -> dict[str, Any]:
    """Row counts of every table reconciliation may write, and every status and money field in them."""
    async with runtime.session_factory() as session:
        counts = {table: int(await session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
                  for table in COUNTED}
        rows: dict[str, Any] = {"counts": counts}
        rows["bookings"] = sorted(
            (str(r.id), r.status.value, str(r.expires_at)) for r in (await session.scalars(select(Booking))).all())
        rows["payments"] = sorted(
            (str(r.id), r.status.value, r.payment_intent_id, r.charge_id, str(r.updated_at))
            for r in (await session.scalars(select(Payment))).all())
        rows["refunds"] = sorted((str(r.id), r.status.value, r.provider_refund_id)
                                 for r in (await session.scalars(select(Refund))).all())
        rows["ledger"] = sorted((str(r.id), r.type.value, r.amount_minor)
                                for r in (await session.scalars(select(LedgerEntry))).all())
        rows["events"] = sorted((r.id, r.processed, r.attempts)
                                for r in (await session.scalars(select(ProviderEvent))).all())
        rows["seats"] = sorted((str(r.id), r.seats_available) for r in (await session.scalars(select(Cabin))).all())
    return rows


async def payment_of(runtime: Runtime, booking_id: str) -> Payment:
    async with runtime.session_factory() as session:
        payment = await session.scalar(select(Payment).where(Payment.booking_id == uuid.UUID(booking_id))
                                       .order_by(Payment.attempt.desc()).limit(1))
        assert payment is not None
        return payment


async def ledger_rows(runtime: Runtime, booking_id: str) -> list[tuple[str, int]]:
    async with runtime.session_factory() as session:
        entries = (await session.scalars(select(LedgerEntry).where(LedgerEntry.booking_id == uuid.UUID(booking_id))
                                         .order_by(LedgerEntry.created_at))).all()
        return [(entry.type.value, entry.amount_minor) for entry in entries]


async def history(runtime: Runtime, booking_id: str) -> list[tuple[str | None, str, str]]:
    async with runtime.session_factory() as session:
        changes = (await session.scalars(
            select(BookingStatusChange).where(BookingStatusChange.booking_id == uuid.UUID(booking_id))
            .order_by(BookingStatusChange.at))).all()
        return [(c.from_status.value if c.from_status else None, c.to_status.value, c.actor) for c in changes]


def detail_for(result: ReconciliationResult, booking_id: str) -> ReconciliationDetail | None:
    found = [d for d in result.details if str(d.booking_id) == booking_id]
    assert len(found) <= 1, found
    return found[0] if found else None


def assert_counts_add_up(result: ReconciliationResult) -> None:
    assert result.scanned == result.fixed + result.failed + result.skipped, result
    assert len(result.details) == result.fixed + result.failed, result
