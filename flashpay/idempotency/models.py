"""Models of the idempotency app."""
