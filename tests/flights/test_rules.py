"""Flight rules (pure): status transitions and block times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ais.errors import InvalidStateTransition
from ais.flights.models import FlightStatus as S
from ais.flights.rules import FLIGHT_TRANSITIONS, check_flight_transition, check_times, times_editable

ALLOWED = {
    (S.SCHEDULED, S.DELAYED), (S.SCHEDULED, S.CANCELLED), (S.SCHEDULED, S.DEPARTED),
    (S.DELAYED, S.SCHEDULED), (S.DELAYED, S.CANCELLED), (S.DELAYED, S.DEPARTED),
    (S.DEPARTED, S.ARRIVED),
}


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("new", list(S))
def test_every_transition(current, new):
    if current == new or (current, new) in ALLOWED:
        check_flight_transition(current, new)
    else:
        with pytest.raises(InvalidStateTransition):
            check_flight_transition(current, new)


def test_table_covers_every_status():
    assert set(FLIGHT_TRANSITIONS) == set(S)


def test_times_editable_only_before_departure():
    assert {status for status in S if times_editable(status)} == {S.SCHEDULED, S.DELAYED}


def test_block_time():
    departure = datetime(2030, 1, 1, tzinfo=UTC)
    check_times(departure, departure + timedelta(hours=19))
    for arrival in (departure, departure - timedelta(minutes=1), departure + timedelta(hours=24, seconds=1)):
        with pytest.raises(ValueError):
            check_times(departure, arrival)
