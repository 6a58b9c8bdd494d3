"""django-q2 tasks that deliver the outbox: the dispatch queued after commit, and the periodic sweep."""
from __future__ import annotations

from flashpay.events.services import event_deliveries_run

DISPATCH_BATCH = 500


def dispatch_event(event_id: int) -> int:
    """Deliver one event's due deliveries (tasks queued before events_dispatch; tests). Safe to run twice."""
    return event_deliveries_run(event_id=event_id)


def events_dispatch() -> int:
    """Deliver every due delivery; queued after commit by event_emit (one task serves many events).

    When it stops at its batch limit with more due, it queues itself again rather than leaving
    the rest to the once-a-minute sweep.
    """
    from flashpay.events.broker import enqueue_unless_waiting

    ran = event_deliveries_run(limit=DISPATCH_BATCH)
    if ran >= DISPATCH_BATCH:
        enqueue_unless_waiting("flashpay.events.tasks.events_dispatch", group="events")
    return ran


def events_sweep() -> int:
    """Deliver whatever is due: retries, and events whose dispatch task was lost or whose worker died."""
    return event_deliveries_run()
