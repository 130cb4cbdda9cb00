"""The booking state machine as data, and the one guard every status change goes through.
Pure: no I/O, so it is tested exhaustively without a database."""

from __future__ import annotations

import enum

from ais.errors import InvalidStateTransition


class BookingStatus(enum.StrEnum):
    INITIATED = "initiated"
    RESERVED = "reserved"
    PENDING = "pending"
    PAID = "paid"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    BOARDED = "boarded"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    EXPIRED = "expired"
    PAYMENT_FAILED = "payment_failed"
    NO_SHOW = "no_show"


S = BookingStatus
TRANSITIONS: dict[BookingStatus, frozenset[BookingStatus]] = {
    S.INITIATED: frozenset({S.RESERVED, S.CANCELLED, S.EXPIRED}),
    S.RESERVED: frozenset({S.PENDING, S.CANCELLED, S.EXPIRED}),
    S.PENDING: frozenset({S.PAID, S.PAYMENT_FAILED, S.CANCELLED, S.EXPIRED}),
    S.PAYMENT_FAILED: frozenset({S.PENDING, S.CANCELLED, S.EXPIRED}),
    S.PAID: frozenset({S.CONFIRMED, S.REFUNDED}),
    S.CONFIRMED: frozenset({S.CHECKED_IN, S.CANCELLED, S.REFUNDED, S.NO_SHOW}),  # no_show: after departure
    S.CHECKED_IN: frozenset({S.BOARDED, S.NO_SHOW}),
    S.BOARDED: frozenset({S.COMPLETED}),
    S.CANCELLED: frozenset({S.REFUNDED}),
    S.EXPIRED: frozenset(),
    S.REFUNDED: frozenset(),
    S.COMPLETED: frozenset(),
    S.NO_SHOW: frozenset(),
}

# The one move out of a terminal state: money that arrives after the hold lapsed (SPEC §4, late
# payment). It is taken only by the late-payment path, and only after the seats were re-taken.
LATE_PAYMENT_TRANSITIONS: dict[BookingStatus, frozenset[BookingStatus]] = {S.EXPIRED: frozenset({S.PAID})}

TERMINAL = frozenset(status for status, targets in TRANSITIONS.items() if not targets)
# Seats are counted against the cabin while the booking is in one of these states.
HOLDING = frozenset({S.INITIATED, S.RESERVED, S.PENDING, S.PAYMENT_FAILED})
SOLD = frozenset({S.PAID, S.CONFIRMED, S.CHECKED_IN, S.BOARDED, S.COMPLETED, S.NO_SHOW})
# A hold that may lapse: the expiry sweep moves these to `expired`.
EXPIRABLE = frozenset({S.INITIATED, S.RESERVED, S.PENDING, S.PAYMENT_FAILED})
# Passenger-initiated cancel is allowed from these (after payment it starts a refund).
CANCELLABLE = frozenset(s for s, targets in TRANSITIONS.items() if S.CANCELLED in targets)
# A checkout may be opened (or a new one after a failure) for these.
PAYABLE = frozenset({S.RESERVED, S.PENDING, S.PAYMENT_FAILED})
# Payable with no checkout open: money that arrives for one of these passes through `pending`.
NO_CHECKOUT_OPEN = frozenset({S.RESERVED, S.PAYMENT_FAILED})
# Entering these needs a charge covering the total in the ledger (the money invariant).
NEEDS_CHARGE = frozenset({S.PAID, S.CONFIRMED})
# A boarding pass is shown again until the passenger has flown.
HOLDS_BOARDING_PASSES = frozenset({S.CHECKED_IN, S.BOARDED})
# The passenger holds e-tickets: the payment page says "confirmed".
TICKETED = frozenset({S.CONFIRMED, S.CHECKED_IN, S.BOARDED})
# Paid for, or cancelled or refunded since: a capture that pushes the ledger past the total for
# a booking in one of these is a second payment, refunded automatically.
PAST_PAYMENT = SOLD | {S.CANCELLED, S.REFUNDED}
# A completed full refund moves a booking from these to `refunded` (if it had been paid).
REFUND_COMPLETES = frozenset({S.CANCELLED, S.PAID, S.CONFIRMED})
# A checkout still open for one of these must be closed at the provider: its hold is gone.
HOLD_GONE = frozenset({S.EXPIRED, S.CANCELLED})


def can_transition(current: BookingStatus, target: BookingStatus, *, late_payment: bool = False) -> bool:
    if late_payment and target in LATE_PAYMENT_TRANSITIONS.get(current, frozenset()):
        return True
    return target in TRANSITIONS[current]


def check_transition(current: BookingStatus, target: BookingStatus, *, late_payment: bool = False) -> None:
    """The one guard: raise InvalidStateTransition unless `current → target` is in the table."""
    if not can_transition(current, target, late_payment=late_payment):
        raise InvalidStateTransition(
            f"A booking that is {current.value} cannot become {target.value}.",
            details={"from": current.value, "to": target.value,
                     "allowed": sorted(t.value for t in TRANSITIONS[current])},
        )


def releases_seats(current: BookingStatus, target: BookingStatus, *, before_departure: bool) -> bool:
    """Whether moving `current → target` gives the booking's seats back to the cabin.

    Seats held or sold go back on cancel and expiry, and on a refund before departure;
    a cancelled booking that is later refunded gave its seats back already. (A passenger
    cannot cancel after departure, so a departed flight's sold seats never go back.)"""
    if current not in HOLDING and current not in SOLD:
        return False
    if target in (S.CANCELLED, S.EXPIRED):
        return True
    return target == S.REFUNDED and before_departure
