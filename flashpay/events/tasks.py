"""django-q2 tasks that deliver the outbox: one event right after commit, and the periodic sweep."""
from __future__ import annotations

from flashpay.events.services import event_deliveries_run


def dispatch_event(event_id: int) -> int:
    """Deliver one event's due deliveries; queued on commit by event_emit. Safe to run twice."""
    return event_deliveries_run(event_id=event_id)


def events_sweep() -> int:
    """Deliver whatever is due: retries, and events whose dispatch task was lost or whose worker died."""
    return event_deliveries_run()
