"""django-q2 tasks of the idempotency app."""
from flashpay.idempotency.services import idempotency_purge_expired


def purge_expired_idempotency_keys() -> int:
    """Delete keys past their expiry (schedule hourly); expired keys are also reclaimed on use."""
    return idempotency_purge_expired()
