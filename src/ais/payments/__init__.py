"""Payments: what the booking side needs from a card provider, and the built-in Stripe sandbox."""
