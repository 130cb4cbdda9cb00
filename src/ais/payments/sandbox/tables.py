"""The sandbox's tables. Deliberately not `ais.db.base.Base.metadata`: AIS's migrations must never
see them, and they live in the sandbox's own database (SQLite file) or schema (PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Index, Integer, MetaData, String, Table
from sqlalchemy.dialects.postgresql import JSONB

# Bumped when a table changes: a store written by another version is refused, not migrated
# (the sandbox's state is test data; starting afresh is the fix).
SCHEMA_VERSION = 1

metadata = MetaData()

# JSONB on PostgreSQL: parsed once on write, so `body->>'charge'` filters do not re-parse text.
Document = JSON().with_variant(JSONB(), "postgresql")

objects = Table(
    "objects",
    metadata,
    Column("id", String, primary_key=True),
    Column("object", String, nullable=False),
    Column("created", Integer, nullable=False),
    # Copied from the body for the expiry sweep; the body is the truth.
    Column("status", String, nullable=True),
    Column("expires_at", Integer, nullable=True),
    Column("body", Document, nullable=False),
    # What the sandbox keeps but Stripe does not show on the object (e.g. line items).
    Column("internal", Document, nullable=False),
    Index("ix_objects_sweep", "object", "status", "expires_at"),
)

events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String, nullable=False, unique=True),
    Column("type", String, nullable=False, index=True),
    Column("created", Integer, nullable=False),
    Column("body", Document, nullable=False),
    sqlite_autoincrement=True,
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("event_id", String, primary_key=True),
    Column("url", String, nullable=False),
    Column("status", String, nullable=False),  # pending | succeeded | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=True),
    Column("leased_until", Float, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String, nullable=True),
    Column("last_attempt_at", Float, nullable=True),
    Column("delivered_at", Float, nullable=True),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String, nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Column("response_excerpt", String, nullable=True),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String, primary_key=True),  # a hash of the secret key: keys are per account
    Column("key", String, primary_key=True),
    Column("method", String, nullable=False),
    Column("path", String, nullable=False),
    Column("fingerprint", String, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("body", Document, nullable=False),
    Column("request_id", String, nullable=False),
    Column("created", Float, nullable=False, index=True),
)

# PostgreSQL only (SQLite keeps the version in `PRAGMA user_version`): one row.
schema_version = Table(
    "schema_version",
    MetaData(),
    Column("version", Integer, nullable=False),
)
