"""tests/concurrency.py: calls run at once, outcomes come back in order, no connection is left open."""
import threading
import time

import pytest
from django.db import connection

from tests.concurrency import run_together


def test_the_calls_are_all_running_at_the_same_time():
    # each call waits for all the others: only calls running side by side get through
    inside = threading.Barrier(5)

    def call(n):
        inside.wait(5)
        return n * n

    results = run_together(*[lambda n=n: call(n) for n in range(5)])

    assert results.errors == []
    assert results.values() == [0, 1, 4, 9, 16]


def test_exceptions_are_outcomes_in_call_order_and_values_raises_the_first():
    def fail(message):
        raise ValueError(message)

    results = run_together(lambda: "ok", lambda: fail("first"), lambda: fail("second"))

    assert [outcome.value for outcome in results] == ["ok", None, None]
    assert [str(error) for error in results.errors] == ["first", "second"]
    with pytest.raises(ValueError, match="first"):
        results.values()


def test_a_call_that_does_not_finish_in_time_fails_the_test():
    release = threading.Event()
    try:
        with pytest.raises(AssertionError, match="still running"):
            run_together(lambda: release.wait(10), lambda: None, timeout=0.5)
    finally:
        release.set()


def _connections_to_this_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="counts PostgreSQL backends")
def test_every_thread_closes_its_own_database_connection():
    def query():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    before = _connections_to_this_database()
    pids = run_together(*[query] * 4).values()

    assert len(set(pids)) == 4  # one connection per thread
    deadline = time.monotonic() + 5  # a closed backend leaves pg_stat_activity a moment later
    while _connections_to_this_database() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _connections_to_this_database() == before
