"""The retried-work engine: leases, one worker per row, backoff, give-up, requeue, sweep bounds."""
from __future__ import annotations

from datetime import timedelta

import pytest

from flashpay.events.models import Event, EventDelivery
from flashpay.work.policies import Outcome, retry_delay
from flashpay.work.services import (
    Claim,
    work_attempt,
    work_claim,
    work_enqueue_on_commit,
    work_requeue,
    work_run,
    work_sweep,
)
from tests.concurrency import run_together
from tests.flashpay.work.conftest import make_policy, make_rows

DONE, PENDING, FAILED = "done", "pending", "failed"


def _row(row: EventDelivery) -> EventDelivery:
    return EventDelivery.objects.get(pk=row.pk)


def test_retry_delay_steps_through_the_schedule_then_repeats_its_last_step():
    assert [retry_delay([10, 60, 600], n).total_seconds() for n in range(1, 6)] == [10, 60, 600, 600, 600]
    with pytest.raises(ValueError):
        retry_delay([], 1)


@pytest.mark.django_db
def test_a_successful_attempt_is_done_once_and_stamped(step, clock):
    policy = make_policy(step)
    [row] = make_rows()

    assert work_sweep(policy) == 1
    assert work_sweep(policy) == 0
    assert work_run(policy, pk=row.pk) is None

    row = _row(row)
    assert (row.state, row.attempts, row.last_error) == (DONE, 1, "")
    assert row.delivered_at == clock.now and row.last_attempt_at == clock.now
    assert step.calls == [(row.pk, 1)]


@pytest.mark.django_db
def test_a_claimed_row_waits_for_its_lease_then_is_retried(step, clock):
    # given: a worker claims a row and dies before its step runs (nothing records an outcome)
    policy = make_policy(step)
    [row] = make_rows()
    assert work_claim(policy, pk=row.pk) == Claim(pk=row.pk, attempt=1)
    assert _row(row).next_attempt_at == clock.now + timedelta(seconds=30)

    # when other workers look before the lease is over, they leave it alone
    clock.advance(seconds=29)
    assert work_sweep(policy) == 0
    assert work_run(policy, pk=row.pk) is None
    assert step.calls == []

    # and once it is over, the next worker makes the second attempt
    clock.advance(seconds=1)
    assert work_sweep(policy) == 1
    row = _row(row)
    assert (row.state, row.attempts) == (DONE, 2)
    assert step.calls == [(row.pk, 2)]


@pytest.mark.django_db
def test_failures_back_off_on_the_schedule_then_give_up_after_max_attempts(step, clock):
    policy = make_policy(step)  # 10 s, then 60 s; three attempts
    [row] = make_rows()
    step.outcomes = [RuntimeError("down"), Outcome.failure("still down"), Outcome.failure("down again")]

    assert work_sweep(policy) == 1
    row = _row(row)
    assert (row.state, row.attempts, row.last_error) == (PENDING, 1, "RuntimeError: down")
    assert row.next_attempt_at == clock.now + timedelta(seconds=10)

    clock.advance(seconds=9)
    assert work_sweep(policy) == 0
    clock.advance(seconds=1)
    assert work_sweep(policy) == 1
    row = _row(row)
    assert (row.state, row.attempts, row.last_error) == (PENDING, 2, "still down")
    assert row.next_attempt_at == clock.now + timedelta(seconds=60)

    clock.advance(seconds=60)
    assert work_sweep(policy) == 1
    clock.advance(days=1)
    assert work_sweep(policy) == 0

    row = _row(row)
    assert (row.state, row.attempts, row.last_error) == (FAILED, 3, "down again")
    assert row.delivered_at is None
    assert [attempt for _pk, attempt in step.calls] == [1, 2, 3]


@pytest.mark.django_db
def test_a_failure_that_cannot_pass_gives_up_at_once(step, clock):
    policy = make_policy(step)
    [row] = make_rows()
    step.outcomes = [Outcome.failure("404", retryable=False)]

    work_sweep(policy)
    clock.advance(days=1)
    assert work_sweep(policy) == 0

    row = _row(row)
    assert (row.state, row.attempts, row.last_error) == (FAILED, 1, "404")


@pytest.mark.django_db
def test_a_row_whose_last_attempt_died_with_its_worker_is_given_up_without_running(step, clock):
    policy = make_policy(step)
    [row, other] = make_rows(2)
    # the state a worker leaves when it is killed during the 3rd (last) attempt, once the lease passed
    EventDelivery.objects.filter(pk=row.pk).update(attempts=3, last_error="RuntimeError: before")

    assert work_sweep(policy) == 1  # the other row; the given-up one does not count

    assert step.calls == [(other.pk, 1)]
    row = _row(row)
    assert row.state == FAILED
    assert row.last_error == "gave up: the worker stopped during attempt 3; earlier: RuntimeError: before"


@pytest.mark.django_db
def test_a_late_outcome_after_the_lease_was_taken_over_is_not_recorded(step, clock):
    # given: worker A claims, stalls past its lease; worker B claims the second attempt
    policy = make_policy(step)
    [row] = make_rows()
    first = work_claim(policy, pk=row.pk)
    clock.advance(seconds=31)
    second = work_claim(policy, pk=row.pk)
    assert second == Claim(pk=row.pk, attempt=2)

    # when A's attempt ends (a failure), then B's (a success)
    step.outcomes = [Outcome.failure("late"), Outcome.success()]
    assert work_attempt(policy, first) is None
    assert (_row(row).state, _row(row).last_error) == (PENDING, "")
    assert work_attempt(policy, second) is not None

    # then only B's outcome is recorded
    row = _row(row)
    assert (row.state, row.attempts, row.last_error) == (DONE, 2, "")


@pytest.mark.django_db
def test_requeue_makes_a_finished_row_due_with_fresh_attempts_and_queues_it(
    step, clock, django_capture_on_commit_callbacks
):
    queued = []
    policy = make_policy(step, enqueue=queued.append, max_attempts=lambda row: 1)
    [done, failed] = make_rows(2)
    step.outcomes = [Outcome.success(), Outcome.failure("down")]
    work_sweep(policy)
    assert (_row(done).state, _row(failed).state) == (DONE, FAILED)

    with django_capture_on_commit_callbacks(execute=True):
        work_requeue(policy, pk=done.pk)
        work_requeue(policy, pk=failed.pk)
    assert queued == [done.pk, failed.pk]
    for row in (_row(done), _row(failed)):
        assert (row.state, row.attempts, row.delivered_at) == (PENDING, 0, None)
        assert row.next_attempt_at == clock.now

    assert work_sweep(policy) == 2
    assert (_row(done).state, _row(failed).state) == (DONE, DONE)
    assert len(step.calls) == 4

    with pytest.raises(EventDelivery.DoesNotExist):
        work_requeue(policy, pk=-1)


@pytest.mark.django_db
def test_enqueue_happens_only_after_commit(step, django_capture_on_commit_callbacks):
    queued = []
    policy = make_policy(step, enqueue=queued.append)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        work_enqueue_on_commit(policy, [1, 2])
    assert queued == []
    for callback in callbacks:
        callback()
    assert queued == [1, 2]


@pytest.mark.django_db
def test_in_transaction_a_reported_failure_rolls_back_the_steps_writes(clock):
    def write_then_fail(row):
        Event.objects.create(type="Echo", aggregate_type="test", aggregate_id=str(row.pk))
        return Outcome.failure("after writing")

    def write(row):
        Event.objects.create(type="Echo", aggregate_type="test", aggregate_id=str(row.pk))

    [failing, working] = make_rows(2)
    work_run(make_policy(write_then_fail, in_transaction=True), pk=failing.pk)
    work_run(make_policy(write, in_transaction=True), pk=working.pk)

    assert list(Event.objects.filter(type="Echo").values_list("aggregate_id", flat=True)) == [str(working.pk)]
    assert (_row(failing).state, _row(failing).last_error) == (PENDING, "after writing")
    assert _row(working).state == DONE


@pytest.mark.django_db
def test_a_sweep_stops_at_its_limit_and_its_time_budget(step, clock):
    policy = make_policy(step)
    rows = make_rows(5)
    assert work_sweep(policy, limit=2) == 2
    assert work_sweep(policy, time_budget=0) == 0
    assert work_sweep(policy) == 3
    assert sorted(pk for pk, _ in step.calls) == sorted(r.pk for r in rows)


@pytest.mark.django_db
def test_filters_keep_a_sweep_to_some_rows(step, clock):
    policy = make_policy(step)
    [first] = make_rows()
    [second] = make_rows()
    assert work_sweep(policy, filters={"event_id": second.event_id}) == 1
    assert step.calls == [(second.pk, 1)]
    assert _row(first).state == PENDING


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("in_transaction", [False, True])
def test_concurrent_workers_never_run_the_same_row(step, in_transaction):
    # given: slow steps, so every worker is busy while the others look for work
    step.pause = 0.2
    policy = make_policy(step, in_transaction=in_transaction)
    rows = make_rows(4)

    def worker() -> int:
        ran = work_sweep(policy)
        for row in rows:  # the queued tasks of every row arrive too
            ran += work_run(policy, pk=row.pk) is not None
        return ran

    # when
    ran = run_together(*[worker] * 4, timeout=30).values()

    # then: each row ran exactly once, whichever worker took it
    assert sorted(pk for pk, _ in step.calls) == sorted(r.pk for r in rows)
    assert sum(ran) == 4
    assert {(r.state, r.attempts) for r in EventDelivery.objects.filter(pk__in=[r.pk for r in rows])} == {(DONE, 1)}


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_with_a_zero_lease_run_the_step_once(step):
    """Without a lease the row is due again at once: only its row lock keeps others out.

    In-transaction work holds the row lock for the whole attempt, so another worker may claim a
    later attempt but never runs the step while the first one is running.
    """
    step.pause = 0.3
    policy = make_policy(step, in_transaction=True, delays=[0], lease=None)
    [row] = make_rows()

    run_together(*[lambda: work_sweep(policy)] * 3, timeout=30).values()

    assert len(step.calls) == 1
    assert _row(row).state == DONE
