"""Signed webhook delivery with retries, recorded per event.

Deliveries are rows, not in-memory tasks: an event recorded in the same transaction as the
state change is delivered even if the process restarts before sending it, and several
worker processes sharing one sandbox store never send the same attempt twice (a claim takes
a lease; a crashed claimer's lease simply runs out; on PostgreSQL a claimer skips the rows
another one is claiming at that moment instead of waiting for them).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, replace
from typing import Any

import httpx
import structlog
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ais.payments.sandbox.config import DeliveryPolicy, SandboxConfig
from ais.payments.sandbox.signing import sign_payload
from ais.payments.sandbox.store import Store
from ais.payments.sandbox.tables import deliveries, delivery_attempts, events

_log = structlog.get_logger("ais.payments.sandbox.delivery")
BATCH = 20
CONCURRENCY = 8  # webhook POSTs in flight at once
EXCERPT = 500
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


_SCHEDULE = insert(deliveries)


async def schedule(conn: AsyncConnection, event_ids: list[str], url: str, *, due_at: float) -> None:
    """Deliveries of these events to `url`, due at `due_at` (one statement)."""
    await conn.execute(_SCHEDULE, [{"event_id": event_id, "url": url, "status": "pending", "attempts": 0,
                                    "next_attempt_at": due_at} for event_id in event_ids])


@dataclass(frozen=True)
class Claim:
    event_id: str
    url: str
    attempts: int
    body: dict[str, Any]


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    response_excerpt: str | None


async def claim_due(conn: AsyncConnection, *, now: float, lease: float, limit: int = BATCH) -> list[Claim]:
    """Take up to `limit` due deliveries, oldest event first, hiding them from other claimers."""
    query = (
        select(deliveries.c.event_id, deliveries.c.url, deliveries.c.attempts, events.c.body)
        .join(events, events.c.id == deliveries.c.event_id)
        .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now,
               (deliveries.c.leased_until.is_(None)) | (deliveries.c.leased_until < now))
        .order_by(deliveries.c.next_attempt_at, events.c.seq)
        .limit(limit)
        .with_for_update(of=deliveries, skip_locked=True)
    )
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    ids = [row.event_id for row in rows]
    await conn.execute(update(deliveries).where(deliveries.c.event_id.in_(ids)).values(leased_until=now + lease))
    claims = []
    for row in rows:
        body = row.body
        body["pending_webhooks"] = 1
        claims.append(Claim(row.event_id, row.url, row.attempts, body))
    return claims


_INSERT_ATTEMPT = insert(delivery_attempts)
# Compare-and-set on `attempts`: if our lease ran out and another claimer already recorded
# this attempt, the attempt row stays as history but the state is theirs. The SET clause
# comes from the other parameter names.
_RECORD = update(deliveries).where(deliveries.c.event_id == bindparam("claimed_event"),
                                   deliveries.c.attempts == bindparam("claimed_attempts"))


async def record_attempts(conn: AsyncConnection, outcomes: list[tuple[Claim, AttemptResult]], policy: DeliveryPolicy,
                          *, now: float) -> None:
    """Record one attempt of each claim and what follows from it (done, failed for good, or
    retried later), in two statements however many there are."""
    if not outcomes:
        return
    # In id order, as every recorder does: two of them never wait on each other in a cycle.
    outcomes = sorted(outcomes, key=lambda outcome: outcome[0].event_id)
    await conn.execute(_INSERT_ATTEMPT, [
        {"event_id": claim.event_id, "attempt": claim.attempts + 1, "at": now, "status_code": result.status_code,
         "error": result.error, "duration_ms": result.duration_ms, "response_excerpt": result.response_excerpt}
        for claim, result in outcomes])
    await conn.execute(_RECORD, [_next_state(claim, result, policy, now) for claim, result in outcomes])


def _next_state(claim: Claim, result: AttemptResult, policy: DeliveryPolicy, now: float) -> dict[str, Any]:
    attempt = claim.attempts + 1
    state: dict[str, Any] = {
        "claimed_event": claim.event_id, "claimed_attempts": claim.attempts, "attempts": attempt, "url": claim.url,
        "leased_until": None, "last_status": result.status_code, "last_error": result.error,
        "last_attempt_at": now, "status": "pending", "delivered_at": None, "next_attempt_at": None,
    }
    if result.ok:
        state.update(status="succeeded", delivered_at=now)
    elif attempt >= policy.max_attempts:
        state.update(status="failed")
    else:
        state.update(next_attempt_at=now + policy.delay_after(attempt))
    return state


async def release(conn: AsyncConnection, event_ids: list[str]) -> None:
    """Give back claims that a stopping process will not finish."""
    if event_ids:
        await conn.execute(update(deliveries)
                           .where(deliveries.c.event_id.in_(event_ids), deliveries.c.status == "pending")
                           .values(leased_until=None))


async def seconds_until_due(conn: AsyncConnection, *, now: float) -> float | None:
    """How long until the next pending delivery may be attempted (None: nothing pending)."""
    # The later of the two times: SQLite's two-argument max() is PostgreSQL's greatest().
    later = func.greatest if conn.dialect.name == "postgresql" else func.max
    due = later(deliveries.c.next_attempt_at, func.coalesce(deliveries.c.leased_until, 0.0))
    value = (await conn.execute(select(func.min(due)).where(deliveries.c.status == "pending"))).scalar()
    return None if value is None else max(0.0, float(value) - now)


async def delivery_view(conn: AsyncConnection, event_id: str) -> dict[str, Any] | None:
    """The sandbox-only record of one event's delivery, for people and tests."""
    row = (await conn.execute(select(deliveries).where(deliveries.c.event_id == event_id))).first()
    attempts = (await conn.execute(select(delivery_attempts)
                                   .where(delivery_attempts.c.event_id == event_id)
                                   .order_by(delivery_attempts.c.attempt, delivery_attempts.c.id))).all()
    if row is None:
        return None
    return {
        "object": "sandbox.event_delivery",
        "event": event_id,
        "url": row.url,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "last_attempt_at": row.last_attempt_at,
        "delivered_at": row.delivered_at,
        "attempt_log": [
            {"attempt": a.attempt, "at": a.at, "status_code": a.status_code, "error": a.error,
             "duration_ms": a.duration_ms, "response_excerpt": a.response_excerpt}
            for a in attempts
        ],
    }


class Deliverer:
    """Sends due events: claim in one short transaction, POST outside any transaction, record
    the outcomes in another, so a slow receiver never holds the sandbox's database."""

    def __init__(self, store: Store, config: SandboxConfig) -> None:
        self._store = store
        self._config = config
        self._policy = config.delivery_policy
        self._http: httpx.AsyncClient | None = None
        self._in_flight: set[str] = set()

    async def open(self) -> None:
        if self._http is None:
            # trust_env=False: an HTTP(S)_PROXY meant for the outside world must not capture the
            # sandbox's calls to its own server.
            # A few connections at a time, as Stripe limits its concurrency to one endpoint: httpcore's
            # pool scans every connection for every request, so more of them cost CPU, not speed.
            self._http = httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=self._policy.timeout,
                                           limits=httpx.Limits(max_connections=CONCURRENCY,
                                                               max_keepalive_connections=CONCURRENCY))

    async def close(self) -> None:
        if self._in_flight:
            async with self._store.transaction() as conn:
                await release(conn, sorted(self._in_flight))
            self._in_flight.clear()
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    async def deliver_due(self) -> int:
        """Attempt every due delivery once; the number attempted."""
        async with self._store.transaction() as conn:
            claims = await claim_due(conn, now=time.time(), lease=self._policy.lease_seconds)
        if not claims:
            return 0
        self._in_flight.update(claim.event_id for claim in claims)
        # Sent to the endpoint as configured now (like a Stripe endpoint whose URL was edited),
        # not as it was when the event was recorded: a restart on another port still delivers.
        url = self._config.effective_webhook_url
        claims = [replace(claim, url=url) for claim in claims]
        results = await asyncio.gather(*(self._send(claim) for claim in claims))
        async with self._store.transaction() as conn:
            await record_attempts(conn, list(zip(claims, results, strict=True)), self._policy, now=time.time())
        self._in_flight.difference_update(claim.event_id for claim in claims)
        for claim, result in zip(claims, results, strict=True):
            if not result.ok:
                _log.warning("sandbox webhook delivery failed", event_id=claim.event_id, url=claim.url,
                             attempt=claim.attempts + 1, status=result.status_code, error=result.error)
        return len(claims)

    async def _send(self, claim: Claim) -> AttemptResult:
        if self._http is None:
            raise RuntimeError("Deliverer.open() was not called")
        # Compact: json's C encoder (an indented dump runs the pure-Python one, costing more than
        # the rest of the delivery). Receivers parse the JSON and check the signature over these bytes.
        payload = json.dumps(claim.body, ensure_ascii=False).encode()
        # Signed with the real clock whatever the business clock says: receivers check it.
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign_payload(payload, self._config.webhook_secret, timestamp),
            "User-Agent": USER_AGENT,
            "Accept": "*/*; q=0.5, application/xml",
            "Cache-Control": "no-cache",
        }
        started = time.monotonic()
        try:
            response = await self._http.post(claim.url, content=payload, headers=headers)
        except httpx.HTTPError as exc:
            return AttemptResult(False, None, f"{type(exc).__name__}: {exc}"[:EXCERPT], _ms(started), None)
        ok = 200 <= response.status_code < 300
        return AttemptResult(ok, response.status_code, None if ok else f"HTTP {response.status_code}",
                             _ms(started), response.text[:EXCERPT] or None)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
