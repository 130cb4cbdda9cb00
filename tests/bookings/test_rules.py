"""The state machine as data: every pair of states is checked against SPEC §4's table."""

import itertools

import pytest

from ais.bookings.rules import TERMINAL, TRANSITIONS, BookingStatus, can_transition, check_transition, releases_seats
from ais.errors import InvalidStateTransition

S = BookingStatus
SPEC_TABLE = {
    "initiated": {"reserved", "cancelled", "expired"},
    "reserved": {"pending", "cancelled", "expired"},
    "pending": {"paid", "payment_failed", "cancelled", "expired"},
    "payment_failed": {"pending", "cancelled", "expired"},
    "paid": {"confirmed", "refunded"},
    "confirmed": {"checked_in", "cancelled", "refunded", "no_show"},
    "checked_in": {"boarded", "no_show"},
    "boarded": {"completed"},
    "cancelled": {"refunded"},
    "expired": set(),
    "refunded": set(),
    "completed": set(),
    "no_show": set(),
}


def test_thirteen_states_exactly():
    assert {s.value for s in S} == set(SPEC_TABLE)
    assert len(S) == 13


@pytest.mark.parametrize("current,target", list(itertools.product(list(S), list(S))))
def test_every_pair_matches_the_spec(current, target):
    allowed = target.value in SPEC_TABLE[current.value]
    assert can_transition(current, target) is allowed
    if allowed:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidStateTransition) as raised:
            check_transition(current, target)
        assert raised.value.code == "INVALID_STATE_TRANSITION"
        assert raised.value.details["from"] == current.value


def test_terminal_states():
    assert TERMINAL == {S.EXPIRED, S.REFUNDED, S.COMPLETED, S.NO_SHOW}
    assert all(not TRANSITIONS[s] for s in TERMINAL)


def test_seats_released_on_cancel_expire_and_refund_before_departure_only():
    assert releases_seats(S.RESERVED, S.CANCELLED, before_departure=True)
    assert releases_seats(S.PENDING, S.EXPIRED, before_departure=True)
    assert releases_seats(S.CONFIRMED, S.CANCELLED, before_departure=True)
    assert releases_seats(S.PAID, S.REFUNDED, before_departure=True)
    assert not releases_seats(S.PAID, S.REFUNDED, before_departure=False)
    # a cancelled booking already gave its seats back; its refund must not give them again
    assert not releases_seats(S.CANCELLED, S.REFUNDED, before_departure=True)
    assert not releases_seats(S.CHECKED_IN, S.BOARDED, before_departure=True)
