"""Fixtures for the events outbox tests: an isolated handler registry and a call recorder."""
import pytest

from flashpay.events import registry
from tests.flashpay.events import handlers


@pytest.fixture
def handler_registry():
    """The registry as the apps left it, restored after the test whatever the test registered."""
    saved = {event_type: list(paths) for event_type, paths in registry._handlers.items()}
    registry._handlers.clear()
    yield registry
    registry._handlers.clear()
    registry._handlers.update(saved)


@pytest.fixture
def calls():
    """The (handler, event id) pairs the in-process test handlers ran, in order."""
    handlers.CALLS.clear()
    handlers.FAIL.clear()
    yield handlers.CALLS
    handlers.CALLS.clear()
    handlers.FAIL.clear()
