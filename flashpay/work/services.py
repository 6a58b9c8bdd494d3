"""The engine of retried work: claim under a lease, attempt, record, back off, give up, sweep, requeue."""
from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from flashpay.work.locks import work_lock_next_due, work_lock_wait
from flashpay.work.models import RetriedWork
from flashpay.work.policies import Outcome, WorkPolicy

logger = logging.getLogger(__name__)

PENDING = RetriedWork.State.PENDING
FAILED = RetriedWork.State.FAILED
_ERROR_TEXT_LIMIT = 2000


@dataclass(frozen=True)
class Claim:
    """A row a worker has taken: its key and the number of the attempt it may make."""

    pk: Any
    attempt: int


def _clip(model: type[models.Model], text: str) -> str:
    limit = model._meta.get_field("last_error").max_length or _ERROR_TEXT_LIMIT
    return text[:limit]


def _save(row: models.Model, fields: Iterable[str]) -> None:
    """Validate and save only ``fields`` (and auto_now columns), as services do."""
    fields = list(dict.fromkeys(fields))
    meta = row._meta
    fields += [f.name for f in meta.concrete_fields if getattr(f, "auto_now", False) and f.name not in fields]
    row.full_clean(
        exclude=[f.name for f in meta.concrete_fields if f.name not in fields],
        validate_unique=False, validate_constraints=False,
    )
    row.save(update_fields=fields)


def _finish(policy: WorkPolicy, row: Any, outcome: Outcome, *, attempt: int) -> None:
    """Record an attempt's outcome on the locked row: done, a retry after the backoff, or given up."""
    now = timezone.now()
    row.last_error = _clip(policy.model, outcome.error)
    fields = ["state", "last_error"]
    if outcome.done:
        row.state = policy.done_state
        if policy.done_at:
            setattr(row, policy.done_at, now)
            fields.append(policy.done_at)
    elif outcome.retryable and attempt < policy.max_attempts(row):
        row.state = PENDING
        row.next_attempt_at = now + policy.retry_delay(attempt)
        fields.append("next_attempt_at")
    else:
        row.state = FAILED
    if policy.record is not None:
        fields += policy.record(row, outcome)
    _save(row, fields)


def work_claim(
    policy: WorkPolicy, *, pk: Any = None, filters: Mapping[str, Any] | None = None,
    exclude_pks: Collection[Any] = (),
) -> Claim | None:
    """Take the first due row (or this one, if due and free): count the attempt, lease it, commit.

    The attempt is committed BEFORE the work starts, so a worker that dies mid-way (kill -9, OOM)
    has still used it: the row is due again when the lease ends, and one that kills its worker
    every time is given up after the kind's maximum attempts instead of looping forever. A row
    whose last allowed attempt died with its worker is given up here, without running.
    """
    with transaction.atomic():
        while True:
            row = work_lock_next_due(policy, pk=pk, filters=filters, exclude_pks=exclude_pks)
            if row is None:
                return None
            if row.attempts >= policy.max_attempts(row):
                earlier = f"; earlier: {row.last_error}" if row.last_error else ""
                _finish(
                    policy, row,
                    Outcome.failure(f"gave up: the worker stopped during attempt {row.attempts}{earlier}", retryable=False),
                    attempt=row.attempts,
                )
                if pk is not None:
                    return None
                continue
            now = timezone.now()
            row.attempts += 1
            row.last_attempt_at = now
            row.next_attempt_at = now + policy.lease_for(row.attempts)
            _save(row, ["attempts", "last_attempt_at", "next_attempt_at"])
            return Claim(pk=row.pk, attempt=row.attempts)


class _Undo(Exception):
    """Rolls back a transactional send's writes when it reports a failure instead of raising."""

    def __init__(self, outcome: Outcome):
        super().__init__(outcome.error)
        self.outcome = outcome


def _send(policy: WorkPolicy, row: Any, claim: Claim) -> Outcome:
    try:
        if policy.in_transaction:
            try:
                with transaction.atomic():
                    outcome = policy.send(row) or Outcome.success()
                    if not outcome.done:
                        raise _Undo(outcome)
            except _Undo as undo:
                outcome = undo.outcome
        else:
            outcome = policy.send(row) or Outcome.success()
    except Exception as exc:  # any failure of the kind's step is the attempt's outcome
        logger.warning(
            "%s %s attempt %s failed: %s", policy.name, claim.pk, claim.attempt, type(exc).__name__, exc_info=True
        )
        return Outcome.failure(f"{type(exc).__name__}: {exc}")
    if not outcome.done:
        logger.warning("%s %s attempt %s failed: %s", policy.name, claim.pk, claim.attempt, outcome.error)
    return outcome


def _is_current(row: Any, claim: Claim) -> bool:
    # Not if it is gone, finished, requeued by an operator, or taken again after its lease ended.
    return row is not None and row.state == PENDING and row.attempts == claim.attempt


def work_attempt(policy: WorkPolicy, claim: Claim) -> Any | None:
    """Make the claimed attempt and record its outcome; the row, or None if the claim went stale."""
    if policy.in_transaction:
        with transaction.atomic():
            # Held while the step runs, so no other worker starts it even once it is due again.
            # Waits rather than skips: another worker's claim query may hold the lock for a moment
            # (PostgreSQL keeps the locks of rows it rechecked and passed over); a worker running
            # a later attempt makes ours stale, which the check below sees.
            row = work_lock_wait(policy, pk=claim.pk)
            if not _is_current(row, claim):
                return None
            _finish(policy, row, _send(policy, row, claim), attempt=claim.attempt)
            return row
    row = policy.model.objects.select_related(*policy.select_related).filter(pk=claim.pk).first()
    if row is None:
        return None
    outcome = _send(policy, row, claim)
    with transaction.atomic():
        row = work_lock_wait(policy, pk=claim.pk)
        if not _is_current(row, claim):
            logger.warning(
                "%s %s attempt %s ended after its claim was taken over; its outcome is not recorded",
                policy.name, claim.pk, claim.attempt,
            )
            return None
        _finish(policy, row, outcome, attempt=claim.attempt)
    return row


def work_run(policy: WorkPolicy, *, pk: Any) -> Any | None:
    """One attempt at one row if it is due and no other worker holds it (else None): the queued task."""
    claim = work_claim(policy, pk=pk)
    return None if claim is None else work_attempt(policy, claim)


def work_sweep(
    policy: WorkPolicy, *, limit: int = 200, time_budget: float = 40.0, filters: Mapping[str, Any] | None = None
) -> int:
    """Attempt due rows, first due first, each at most once per call; returns how many ran.

    Safe in any number of workers at once. A failed row waits for its backoff and a later sweep,
    so one broken row cannot hold up the rest. Stops claiming after ``limit`` rows or
    ``time_budget`` seconds, so a sweep ends well inside the worker's task timeout.
    """
    ran = 0
    seen: set[Any] = set()
    deadline = time.monotonic() + time_budget
    while ran < limit and time.monotonic() < deadline:
        claim = work_claim(policy, filters=filters, exclude_pks=seen)
        if claim is None:
            break
        seen.add(claim.pk)
        if work_attempt(policy, claim) is not None:
            ran += 1
    return ran


def work_enqueue_on_commit(policy: WorkPolicy, pks: Iterable[Any]) -> None:
    """Queue a run of each row once the caller's transaction commits (the sweep is the safety net)."""
    if policy.enqueue is None:
        return
    for pk in pks:
        transaction.on_commit(lambda pk=pk: policy.enqueue(pk))


def work_requeue(policy: WorkPolicy, *, pk: Any) -> Any:
    """An operator's redelivery: the row is due now with a fresh set of attempts, done or not.

    Waits for a worker that is running it. The kind's step must be idempotent, so repeating a
    done row is harmless.
    """
    with transaction.atomic():
        row = work_lock_wait(policy, pk=pk)
        if row is None:
            raise policy.model.DoesNotExist(f"no {policy.name} {pk!r}")
        row.state = PENDING
        row.attempts = 0
        row.next_attempt_at = timezone.now()
        fields = ["state", "attempts", "next_attempt_at"]
        if policy.done_at:
            setattr(row, policy.done_at, None)
            fields.append(policy.done_at)
        _save(row, fields)
        work_enqueue_on_commit(policy, [row.pk])
    return row
