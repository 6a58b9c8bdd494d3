"""Idempotency keys for API writes: replay the stored response or refuse another body."""
