"""Leased, retried work: one engine for every row a worker must get done at least once.

The outbox's handler deliveries, webhook deliveries and store e-mails are such rows; refunds,
payouts and rewards are the next. The engine owns what they have in common:

- claiming a due row under a lease (``locks.py``: SKIP LOCKED, so no two workers run one row;
  the claim commits the attempt before the work starts, so a worker killed mid-way has used it
  and the row is tried again once its lease is over);
- recording the outcome of an attempt, the backoff before the next one, and giving up after the
  kind's maximum number of attempts (``services.py``);
- the sweep of due rows, bounded by a row count and a time budget, and an operator's requeue.

A kind of work is a few lines:

1. a model with the standard columns: subclass ``flashpay.work.models.RetriedWork`` (state,
   attempts, next_attempt_at, last_attempt_at, last_error) and give it ``RetriedWork.due_index``;
2. a ``flashpay.work.policies.WorkPolicy``: the model, the "send one" function (returns normally
   or an ``Outcome``; raising counts as a failure worth a retry), the backoff schedule, the
   maximum attempts, the lease, and how to queue one row after commit;
3. two django-q2 tasks: one that runs a queued row (``work_run``) and a periodic sweep
   (``work_sweep``) that finishes whatever a lost task or a dead worker left behind.

This package imports no app and has no tables of its own.
"""
