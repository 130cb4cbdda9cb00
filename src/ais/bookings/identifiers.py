"""Record locators and e-ticket numbers."""

from __future__ import annotations

import secrets

# No 0/O, 1/I/L: a locator is read aloud over the phone and typed from paper.
LOCATOR_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LOCATOR_LENGTH = 6
# IATA ticket numbers: 3-digit airline accounting code + 10-digit serial.
AIRLINE_ACCOUNTING_CODE = "065"


def new_reference() -> str:
    return "".join(secrets.choice(LOCATOR_ALPHABET) for _ in range(LOCATOR_LENGTH))


def looks_like_reference(value: str) -> bool:
    return len(value) == LOCATOR_LENGTH and all(c in LOCATOR_ALPHABET for c in value.upper())


def new_ticket_number() -> str:
    return AIRLINE_ACCOUNTING_CODE + f"{secrets.randbelow(10**10):010d}"
