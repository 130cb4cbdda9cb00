"""Money as integer minor units with ISO 4217 exponents; decimal strings at the edges.

No float ever holds an amount: parsing goes through `Decimal` and refuses more fraction
digits than the currency has (JPY 0, SAR 2, KWD 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# ISO 4217 minor-unit exponents for the currencies an airline is likely to sell in.
CURRENCY_EXPONENTS: dict[str, int] = {
    "SAR": 2, "AED": 2, "QAR": 2, "EGP": 2, "USD": 2, "EUR": 2, "GBP": 2, "INR": 2,
    "TRY": 2, "PKR": 2, "MAD": 2, "CHF": 2, "CAD": 2, "AUD": 2, "SGD": 2, "MYR": 2,
    "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0, "XOF": 0,
}
DEFAULT_CURRENCY = "SAR"
MAX_MINOR_UNITS = 10**12  # a ceiling far above any fare, far below int64
# What an amount may look like: ASCII digits, one optional point, an optional exponent. Decimal()
# alone also takes "1_0" and other scripts' digits (Arabic-Indic one-zero-zero reads as 100),
# which no client means as an amount.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"unsupported currency {currency!r}") from None


def parse_amount(text: str | int, currency: str) -> int:
    """Decimal string (or integer major units) → minor units, exactly, or MoneyError."""
    exp = exponent(currency)
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise MoneyError("amount must be a decimal string")  # a float has already lost exactness
    written = str(text).strip()
    if not _DECIMAL_TEXT.fullmatch(written):
        raise MoneyError(f"{text!r} is not a decimal amount (digits 0-9 and one '.')")
    try:
        value = Decimal(written)
    except InvalidOperation:
        raise MoneyError(f"{text!r} is not a decimal amount") from None
    if not value.is_finite():
        raise MoneyError("amount must be finite")
    # Exact integer arithmetic on the digits: Decimal's context would round past 28 digits
    # ("1.000…001" → 100) or overflow on "1e999999" with an error that is not a MoneyError.
    sign, digits, digit_exponent = value.as_tuple()
    coefficient = int("".join(map(str, digits)))
    shift = int(digit_exponent) + exp  # minor units = coefficient · 10^shift
    if coefficient == 0:
        return 0
    if sign:
        raise MoneyError("amount must not be negative")
    if shift < 0:
        if -shift > len(digits) or coefficient % 10**-shift:
            raise MoneyError(f"{currency} has {exp} decimal places; {text!r} has more")
        result = coefficient // 10**-shift
    elif len(digits) + shift > len(str(MAX_MINOR_UNITS)):
        raise MoneyError("amount is too large")
    else:
        result = coefficient * 10**shift
    if result > MAX_MINOR_UNITS:
        raise MoneyError("amount is too large")
    return result


def format_amount(minor_units: int, currency: str) -> str:
    """Minor units → the decimal string the API shows ("1000.00" SAR, "15000" JPY, "12.345" KWD)."""
    exp = exponent(currency)
    sign = "-" if minor_units < 0 else ""
    units = abs(minor_units)
    if exp == 0:
        return f"{sign}{units}"
    major, minor = divmod(units, 10**exp)
    return f"{sign}{major}.{minor:0{exp}d}"


@dataclass(frozen=True, slots=True)
class Money:
    minor_units: int
    currency: str

    def __post_init__(self) -> None:
        exponent(self.currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor_units + other.minor_units, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor_units - other.minor_units, self.currency)

    def times(self, count: int) -> Money:
        return Money(self.minor_units * count, self.currency)

    def percent(self, percent: int) -> Money:
        """A share of this amount, rounded half up to the minor unit (integer arithmetic only)."""
        return Money((self.minor_units * percent + 50) // 100, self.currency)

    def __str__(self) -> str:
        return f"{format_amount(self.minor_units, self.currency)} {self.currency}"

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")
