"""Run calls at the same moment, each in its own thread on its own database connection (race tests).

    results = run_together(*[lambda: post(key="same")] * 6)
    assert results.errors == []
    bodies = results.values()

Django opens one connection per thread; each thread closes its own when its call returns, so a
race test leaves no connection behind to block the test database's teardown.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections


@dataclass(frozen=True)
class Outcome:
    """What one call returned, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None


class Outcomes(list[Outcome]):
    """The outcomes of the calls, in the order the calls were given."""

    @property
    def errors(self) -> list[BaseException]:
        return [outcome.error for outcome in self if outcome.error is not None]

    def values(self) -> list[Any]:
        """Every call's return value; raises the first exception a call raised instead."""
        for outcome in self:
            if outcome.error is not None:
                raise outcome.error
        return [outcome.value for outcome in self]


def run_together(*calls: Callable[[], Any], timeout: float = 120.0) -> Outcomes:
    """Start one thread per call, release them all at once at a barrier, wait for every one.

    Fails (AssertionError) if a thread is still running after `timeout` seconds. A thread that
    never reaches the barrier leaves the others with a BrokenBarrierError as their outcome.
    """
    assert calls, "nothing to run"
    barrier = threading.Barrier(len(calls))
    outcomes: list[Outcome | None] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout)
            outcomes[index] = Outcome(value=call())
        except BaseException as exc:  # noqa: BLE001 - every outcome is handed back to the test
            outcomes[index] = Outcome(error=exc)
        finally:
            connections.close_all()

    # Daemon threads: one that hangs fails its test below instead of keeping pytest alive.
    threads = [
        threading.Thread(target=run, args=(index, call), name=f"race-{index}", daemon=True)
        for index, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    running = [thread.name for thread in threads if thread.is_alive()]
    assert not running, f"still running after {timeout} s: {running}"
    return Outcomes(outcomes)  # type: ignore[arg-type]
