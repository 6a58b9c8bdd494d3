"""A kind of retried work made up for the engine's tests: outbox delivery rows with a recording step."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from flashpay.events.models import Event, EventDelivery
from flashpay.work.policies import Outcome, WorkPolicy


@dataclass
class Step:
    """The "send one" step of the test kind: records each call, answers with what the test queued."""

    calls: list[tuple[int, int]] = field(default_factory=list)  # (row id, attempt number seen)
    outcomes: list[Outcome | Exception] = field(default_factory=list)
    pause: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, row: EventDelivery) -> Outcome | None:
        with self.lock:
            self.calls.append((row.pk, row.attempts))
            answer = self.outcomes.pop(0) if self.outcomes else None
        if self.pause:
            time.sleep(self.pause)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    """Moves ``timezone.now()`` without sleeping: leases and backoffs are times in the rows."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock(timezone.now() + timedelta(minutes=1))  # rows stamped by real defaults are due
    monkeypatch.setattr(timezone, "now", fake)
    return fake


@pytest.fixture
def step() -> Step:
    return Step()


def make_policy(step: Step, **overrides) -> WorkPolicy:
    options = {
        "name": "test work",
        "model": EventDelivery,
        "send": step,
        "delays": [10, 60],
        "max_attempts": lambda row: 3,
        "lease": lambda: timedelta(seconds=30),
        "done_at": "delivered_at",
    }
    options.update(overrides)
    return WorkPolicy(**options)


def make_rows(count: int = 1) -> list[EventDelivery]:
    """Pending rows of the test kind (no handler is registered: only the test's step runs them)."""
    event = Event.objects.create(type="WorkTest", aggregate_type="test", aggregate_id="1")
    return [EventDelivery.objects.create(event=event, handler=f"tests.work.h{n}") for n in range(count)]
