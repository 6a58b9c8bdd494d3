"""The django-q2 broker: its database (ORM) broker, with a cheaper enqueue.

Every invoice created queues the delivery of its outbox event after commit, so ``enqueue``
runs once per write request. django-q2's version compiles an ORM ``create`` each time; this
one inserts the queue row with SQL compiled once (``flashpay.sql``). Dequeueing, locking and
acknowledging stay django-q2's own.
"""
from __future__ import annotations

from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ

from flashpay.sql import ModelInsert

_INSERT_TASK = ModelInsert(OrmQ)


class DatabaseBroker(ORM):
    def enqueue(self, task):
        # list_key can be empty in a test set-up; the queue row's key cannot
        row = OrmQ(key=self.list_key or Conf.CLUSTER_NAME, payload=task, lock=timezone.now())
        _INSERT_TASK.execute([row])
        return row.pk
