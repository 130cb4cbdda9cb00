"""Object ids shaped like Stripe's: a type prefix and random base-62 characters."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits

# Prefix and length of the random part, as Stripe's test-mode ids look.
PREFIXES = {
    "checkout.session": ("cs_test_", 58),
    "payment_intent": ("pi_", 24),
    "charge": ("ch_", 24),
    "refund": ("re_", 24),
    "dispute": ("du_", 24),
    "event": ("evt_", 24),
    "payment_method": ("pm_", 24),
    "line_item": ("li_", 24),
    "price": ("price_", 24),
    "product": ("prod_", 14),
    "request": ("req_", 14),
}


def new_id(kind: str) -> str:
    prefix, length = PREFIXES[kind]
    # One draw from the OS for the whole id (secrets.choice per character costs a system call
    # each: a quarter of a millisecond per session id), spelled in base 62.
    number = secrets.randbelow(len(_ALPHABET) ** length)
    characters = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        characters.append(_ALPHABET[digit])
    return prefix + "".join(characters)

