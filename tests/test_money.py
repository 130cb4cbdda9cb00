"""SPEC §3: money is integer minor units inside and decimal strings at the edges — exactly, never a float."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ais.money import CURRENCY_EXPONENTS, MAX_MINOR_UNITS, Money, MoneyError, exponent, format_amount, parse_amount

EXAMPLES = {"JPY": 0, "SAR": 2, "KWD": 3}
currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
minor_units = st.integers(min_value=0, max_value=MAX_MINOR_UNITS)


def test_the_exponents_the_contract_relies_on():
    assert {code: exponent(code) for code in EXAMPLES} == EXAMPLES


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [(100000, "SAR", "1000.00"), (15000, "JPY", "15000"), (12345, "KWD", "12.345"), (5, "SAR", "0.05"),
     (0, "KWD", "0.000"), (7, "KWD", "0.007"), (MAX_MINOR_UNITS, "SAR", "10000000000.00")],
)
def test_format_shows_exactly_the_currencys_decimals(minor, currency, shown):
    assert format_amount(minor, currency) == shown
    assert parse_amount(shown, currency) == minor


@given(minor=minor_units, currency=currencies)
@example(minor=0, currency="JPY")
@example(minor=MAX_MINOR_UNITS, currency="KWD")
def test_format_then_parse_round_trips_for_every_exponent(minor, currency):
    shown = format_amount(minor, currency)
    exp = exponent(currency)
    assert re.fullmatch(r"\d+" if exp == 0 else rf"\d+\.\d{{{exp}}}", shown), shown
    assert parse_amount(shown, currency) == minor


@given(minor=minor_units, currency=currencies, extra_zeros=st.integers(0, 5))
def test_equal_values_written_differently_parse_the_same(minor, currency, extra_zeros):
    shown = format_amount(minor, currency)
    padded = (shown if "." in shown else shown + ".") + "0" * extra_zeros
    assert parse_amount(padded, currency) == minor
    assert parse_amount(f"  {shown}\n", currency) == minor


@given(
    major=st.integers(0, 10**6),
    fraction=st.integers(1, 9),
    currency=st.sampled_from(sorted(EXAMPLES)),
)
def test_one_decimal_too_many_is_refused(major, fraction, currency):
    exp = exponent(currency)
    text = f"{major}.{'0' * exp}{fraction}"  # a non-zero digit one place past the minor unit
    with pytest.raises(MoneyError):
        parse_amount(text, currency)


@pytest.mark.parametrize(
    "text",
    [
        "1.001", "0.005", "1.00000000000000000000000000001",  # past Decimal's 28-digit precision
        "1e-999999999", "1E-3",
    ],
)
def test_fractions_of_a_halala_are_refused_even_beyond_decimal_precision(text):
    with pytest.raises(MoneyError):
        parse_amount(text, "SAR")


@pytest.mark.parametrize(
    "text",
    ["-1", "-0.01", "NaN", "nan", "sNaN", "-NaN", "Infinity", "inf", "-inf", "", " ", "1,00", "1.2.3", "SAR 10",
     "ten", "0x10", "10.00 SAR", "1e999999", "1e999999999999999999", "9" * 14, "10000000000.01", "1e13"],
)
def test_negative_non_numeric_non_finite_and_huge_amounts_are_refused(text):
    with pytest.raises(MoneyError):
        parse_amount(text, "SAR")


@given(text=st.text(max_size=40))
def test_parse_answers_an_amount_or_a_money_error_and_nothing_else(text):
    try:
        result = parse_amount(text, "SAR")
    except MoneyError:
        return
    assert isinstance(result, int) and 0 <= result <= MAX_MINOR_UNITS
    assert Decimal(text.strip()) * 100 == result  # exactly the value written


@given(digits=st.text(alphabet="0123456789", min_size=1, max_size=30),
       exp=st.integers(-10**9, 10**9))
@settings(max_examples=200)
def test_scientific_notation_is_exact_and_bounded(digits, exp):
    text = f"{digits}e{exp}"
    try:
        result = parse_amount(text, "KWD")
    except MoneyError:
        return
    assert Decimal(text) * 1000 == result <= MAX_MINOR_UNITS


def test_floats_are_refused_because_they_are_already_inexact():
    for value in (0.1, 10.0, 1e2, float("nan")):
        with pytest.raises(MoneyError):
            parse_amount(value, "SAR")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        parse_amount(True, "SAR")  # type: ignore[arg-type]
    assert parse_amount(10, "SAR") == 1000  # integer major units are exact


def test_tenths_add_up_exactly():
    assert 0.1 + 0.2 != 0.3  # the float trap this module exists to avoid
    assert parse_amount("0.1", "SAR") + parse_amount("0.2", "SAR") == parse_amount("0.3", "SAR") == 30
    total = sum(parse_amount("0.10", "SAR") for _ in range(10))
    assert format_amount(total, "SAR") == "1.00"


@pytest.mark.parametrize("currency", ["sar", "XXX", "", "SAR "])
def test_unknown_currencies_are_refused(currency):
    with pytest.raises(MoneyError):
        parse_amount("1", currency)
    with pytest.raises(MoneyError):
        format_amount(1, currency)


@given(a=minor_units, b=minor_units, currency=currencies)
def test_money_adds_and_subtracts_in_integers(a, b, currency):
    total = Money(a, currency) + Money(b, currency)
    assert total == Money(a + b, currency)
    assert (total - Money(b, currency)).minor_units == a
    assert isinstance(total.minor_units, int)


def test_money_never_mixes_currencies():
    with pytest.raises(MoneyError):
        Money(100, "SAR") + Money(100, "AED")
    with pytest.raises(MoneyError):
        Money(100, "SAR") - Money(100, "KWD")
    with pytest.raises(MoneyError):
        Money(1, "XXX")


@given(amount=st.integers(0, 10**9), percent=st.integers(0, 100))
def test_percent_rounds_half_up_with_integers_only(amount, percent):
    share = Money(amount, "SAR").percent(percent).minor_units
    exact = Decimal(amount) * percent / 100
    assert isinstance(share, int)
    assert share == int((exact + Decimal("0.5")).to_integral_value(rounding="ROUND_FLOOR"))


def test_str_shows_amount_and_currency():
    assert str(Money(100000, "SAR")) == "1000.00 SAR"
    assert str(Money(12345, "KWD")) == "12.345 KWD"
    assert format_amount(-150, "SAR") == "-1.50"


@pytest.mark.parametrize(
    "text",
    ["1_0", "1_000.00", "10.0_0", "\u0661\u0660\u0660", "\u0663.\u0665\u0660", "\u06f1\u06f2", "\uff11\uff10",
     "\u0967\u0966", "1\u0660", "1e1_0"],
)
def test_only_ascii_digits_without_separators_are_amounts(text):
    """Decimal() alone reads "1_0" as 10 and Arabic-Indic one-zero-zero as 100: not what a client means."""
    with pytest.raises(MoneyError):
        parse_amount(text, "SAR")
