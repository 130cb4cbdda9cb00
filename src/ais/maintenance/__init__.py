"""Maintenance mode (SPEC §10): an admin switch that pauses new bookings and payments."""
