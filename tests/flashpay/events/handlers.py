"""Event handlers used by the outbox tests, registered by dotted path like real ones."""
import os
import time
from pathlib import Path

from flashpay.events.services import event_emit

# Filled by the handlers that run inside the test process.
CALLS: list[tuple[str, int]] = []
# Handler names that should raise on their next calls: name -> remaining failures (-1: always).
FAIL: dict[str, int] = {}


def _maybe_fail(name: str) -> None:
    left = FAIL.get(name, 0)
    if left:
        FAIL[name] = left - 1 if left > 0 else left
        raise RuntimeError(f"{name} is down")


def record_a(event) -> None:
    CALLS.append(("a", event.pk))
    _maybe_fail("a")


def record_b(event) -> None:
    CALLS.append(("b", event.pk))
    _maybe_fail("b")


def echo_then_fail(event) -> None:
    """Writes an Echo event and then raises: the write must not survive."""
    CALLS.append(("echo_then_fail", event.pk))
    event_emit(type="Echo", aggregate_type="event", aggregate_id=str(event.pk), payload={})
    raise RuntimeError("after writing")


def slow_record(event) -> None:
    CALLS.append(("slow", event.pk))
    time.sleep(0.5)


def echo_blocking(event) -> None:
    """Runs in a worker subprocess: writes an Echo event, says so in a file, then blocks while the
    block file exists (so the test can kill the worker mid-delivery)."""
    event_emit(
        type="Echo",
        aggregate_type="event",
        aggregate_id=str(event.pk),
        payload={"of": event.pk},
        idempotency_key=f"echo:{event.pk}",
    )
    with open(os.environ["FLASHPAY_TEST_STARTED_FILE"], "a") as marker:
        marker.write(f"{os.getpid()}\n")
    block = Path(os.environ["FLASHPAY_TEST_BLOCK_FILE"])
    deadline = time.monotonic() + 60
    while block.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
