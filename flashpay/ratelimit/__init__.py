"""Fixed-window request limits shared by every web process (counters in PostgreSQL), for public endpoints."""
