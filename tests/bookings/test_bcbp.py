from datetime import date

import pytest

from ais.bookings import bcbp
from ais.flights.models import CabinClass


def test_mandatory_section_layout():
    code = bcbp.encode(
        last_name="Alharbi", first_name="Sara", reference="ABC234", origin="RUH", destination="JED",
        flight_number="SV123", departure_local_date=date(2026, 12, 1), cabin=CabinClass.ECONOMY,
        seat="12C", sequence_number=7,
    )
    assert len(code) == 60
    assert code[0:2] == "M1"
    assert code[2:22] == "ALHARBI/SARA        "
    assert code[22] == "E"
    assert code[23:30] == "ABC234 "
    assert code[30:33] == "RUH" and code[33:36] == "JED"
    assert code[36:39] == "SV "
    assert code[39:44] == "0123 "
    assert code[44:47] == "335"  # 1 December is day 335 of 2026
    assert code[47] == "Y"
    assert code[48:52] == "012C"
    assert code[52:57] == "0007 "
    assert code[57] == "1"
    assert code[58:60] == "00"


def test_long_and_non_latin_names_are_cut_to_twenty_characters():
    code = bcbp.encode(
        last_name="Al-Abdulrahman Alqahtani", first_name="Mohammed", reference="ABC234", origin="RUH",
        destination="JED", flight_number="SV9", departure_local_date=date(2026, 1, 1),
        cabin=CabinClass.BUSINESS, seat="1A", sequence_number=1,
    )
    assert len(code) == 60
    assert code[2:22] == "ALABDULRAHMAN ALQAHT"
    assert code[47] == "J"


@pytest.mark.parametrize("cabin,sequence,seat", [
    (CabinClass.ECONOMY, 1, "10A"), (CabinClass.ECONOMY, 6, "10F"), (CabinClass.ECONOMY, 7, "11A"),
    (CabinClass.BUSINESS, 1, "1A"), (CabinClass.BUSINESS, 4, "1F"), (CabinClass.BUSINESS, 5, "2A"),
])
def test_seats_follow_the_cabin_layout(cabin, sequence, seat):
    assert bcbp.seat_for_sequence(cabin, sequence) == seat
