"""Reconciliation: our payments compared with the provider's, missed webhooks applied (SPEC §5)."""
