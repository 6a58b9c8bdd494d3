"""The django-q2 broker: its database (ORM) broker, with a cheaper enqueue, and queue-once.

Every invoice created queues the delivery of its outbox event after commit, so ``enqueue``
runs once per write request. django-q2's version compiles an ORM ``create`` each time; this
one inserts the queue row with SQL compiled once (``flashpay.events.sql``). Dequeueing, locking
and acknowledging stay django-q2's own.
"""
from __future__ import annotations

import logging
import threading

from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ

from flashpay.events.sql import TASK_INSERT, task_waiting

logger = logging.getLogger(__name__)

# func -> queue row of the last task this process queued for it
_queued: dict[str, int] = {}
_queued_lock = threading.Lock()


class DatabaseBroker(ORM):
    last_row_id: int | None = None

    def enqueue(self, task):
        # list_key can be empty in a test set-up; the queue row's key cannot
        row = OrmQ(key=self.list_key or Conf.CLUSTER_NAME, payload=task, lock=timezone.now())
        TASK_INSERT.execute([row])
        self.last_row_id = row.pk
        return row.pk


def enqueue_unless_waiting(func: str, **options) -> bool:
    """Queue ``func`` (no arguments) unless the task this process queued for it is still waiting.

    For tasks that do "everything that is due", like the outbox dispatch: while one such task
    sits in the queue untaken, a second would find nothing the first will not. A task counts as
    waiting until a worker takes it (django-q2 then pushes its lock into the future) or it is
    acknowledged (the row is deleted); whatever the caller committed before this call is then
    visible to the task, because the worker reads it only after taking the task. Costs one
    primary-key look-up instead of a signed, pickled insert. Returns whether a task was queued.
    """
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    row_id = _queued.get(func)
    if row_id is not None and task_waiting(row_id=row_id, now=timezone.now(), connection=connections[DEFAULT_DB_ALIAS]):
        return False
    broker = get_broker()
    async_task(func, broker=broker, **options)
    if isinstance(broker, DatabaseBroker) and broker.last_row_id is not None:
        with _queued_lock:
            _queued[func] = broker.last_row_id
    return True


def task_enqueue(func: str, *args, group: str | None = None) -> bool:
    """Queue a task whose work is already committed and also found by a periodic sweep.

    If the broker is down the caller's work must not fail: the row the task would handle is
    committed, so a lost enqueue only delays it until the sweep. Returns whether it was queued.
    """
    from django_q.tasks import async_task

    try:
        if group is None:
            async_task(func, *args)
        else:
            async_task(func, *args, group=group)
    except Exception:  # noqa: BLE001 - see above
        logger.warning("could not queue %s%r; the sweep will do it", func, args, exc_info=True)
        return False
    return True
