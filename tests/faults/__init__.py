"""Faults survived (SPEC §10): each test starts its own private service or server and breaks it."""
