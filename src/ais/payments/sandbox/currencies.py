"""The currencies the sandbox accepts and their minor-unit exponents, as Stripe defines them.

Stripe takes every amount in the currency's smallest unit: JPY has no decimals (15000 is
¥15,000), KWD has three (12345 is 12.345 KWD), most others two.
"""

from __future__ import annotations

ZERO_DECIMAL = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())
SUPPORTED = ZERO_DECIMAL | THREE_DECIMAL | frozenset(
    """usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bmd bnd bob brl bsd bwp byn
    bzd cad cdf chf cny cop crc cve czk dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gtq gyd
    hkd hnl htg huf idr ils inr isk jmd kes kgs khr kyd kzt lak lbp lkr lrd lsl mad mdl mkd mmk
    mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd pab pen pgk php pkr pln qar ron rsd
    rub sar sbd scr sek sgd shp sle sos srd szl thb tjs top try ttd twd tzs uah uyu uzs wst xcd
    yer zar zmw""".split()
)


def exponent(currency: str) -> int:
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def format_amount(minor_units: int, currency: str) -> str:
    """Minor units as a grouped decimal string: 123450 SAR → "1,234.50", 15000 JPY → "15,000"."""
    exp = exponent(currency)
    sign = "-" if minor_units < 0 else ""
    major, minor = divmod(abs(minor_units), 10**exp)
    text = f"{major:,}"
    if exp:
        text += f".{minor:0{exp}d}"
    return sign + text
