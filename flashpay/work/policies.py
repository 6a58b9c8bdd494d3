"""What makes one kind of work: its model, its "send one" step, its backoff, attempts and lease."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import models


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to; ``detail`` is the kind's own record of it (for ``WorkPolicy.record``)."""

    done: bool
    error: str = ""
    # For a failure: whether a later attempt may succeed (a 5xx may pass, a 404 will not).
    retryable: bool = True
    detail: Any = None

    @classmethod
    def success(cls, *, detail: Any = None) -> Outcome:
        return cls(done=True, detail=detail)

    @classmethod
    def failure(cls, error: str, *, retryable: bool = True, detail: Any = None) -> Outcome:
        return cls(done=False, error=error, retryable=retryable, detail=detail)


def _seconds(value: Sequence[int] | Callable[[], Sequence[int]]) -> Sequence[int]:
    return value() if callable(value) else value


def retry_delay(delays: Sequence[int], attempt: int) -> timedelta:
    """The wait after failed attempt ``attempt`` (1-based): the schedule's step, its last one repeating."""
    if not delays:
        raise ValueError("a backoff schedule needs at least one step")
    return timedelta(seconds=delays[min(attempt, len(delays)) - 1])


@dataclass(frozen=True)
class WorkPolicy:
    """One kind of retried work. Callables are called when needed, so settings are read then.

    ``send(row)`` is the "send one" step: it returns None or ``Outcome.success()`` when the work
    is done, ``Outcome.failure(...)`` when it is not; an exception counts as a retryable failure.
    Without ``in_transaction`` it runs outside any transaction (HTTP, SMTP, node calls) after the
    claim committed, and its result is recorded in a second transaction. With it, it runs in the
    transaction that holds the row's lock and records the outcome, inside a savepoint: its own
    database writes commit together with "done" or not at all (the outbox's handlers).
    """

    name: str
    model: type[models.Model]
    send: Callable[[Any], Outcome | None]
    # Seconds to wait after attempt 1, 2, ...; the last step repeats.
    delays: Sequence[int] | Callable[[], Sequence[int]]
    max_attempts: Callable[[Any], int]
    # How long a claimed row is left to its worker; None: the retry delay of that attempt.
    lease: Callable[[], timedelta] | None = None
    in_transaction: bool = False
    # Queue a run of one row (a task), called after commit; None: the sweep will find it.
    enqueue: Callable[[Any], None] | None = None
    # The state a successful row ends in, and the column stamped with the time it did.
    done_state: str = "done"
    done_at: str | None = None
    select_related: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ("next_attempt_at", "pk")
    # The kind's own columns or log rows for an outcome, written in the transaction that records
    # it, with the row locked; returns the names of the columns it set.
    record: Callable[[Any, Outcome], Sequence[str]] | None = None

    def retry_delay(self, attempt: int) -> timedelta:
        return retry_delay(_seconds(self.delays), attempt)

    def lease_for(self, attempt: int) -> timedelta:
        return self.retry_delay(attempt) if self.lease is None else self.lease()
