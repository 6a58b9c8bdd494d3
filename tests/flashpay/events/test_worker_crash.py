"""Outbox delivery after a worker crash: a real qcluster is killed -9 mid-delivery."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django_q.tasks import async_task

from flashpay.events.models import Event, EventDelivery
from flashpay.events.services import event_emit

HANDLER = "tests.flashpay.events.handlers.echo_blocking"


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        # Its own session, so the kill reaches the cluster's forked worker processes too.
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(10)


def wait_for(condition, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text()[-3000:]}")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
def test_outbox_delivery_after_a_worker_crash(handler_registry, tmp_path):
    # given: a handler that writes (an Echo event) and then blocks while the block file exists
    handler_registry.register_handler("CrashTest", HANDLER)
    started, block, log = tmp_path / "started", tmp_path / "block", tmp_path / "worker.log"
    block.touch()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "Q_WORKERS": "1",
        "EVENTS_RETRY_DELAYS": "1",
        "FLASHPAY_TEST_STARTED_FILE": str(started),
        "FLASHPAY_TEST_BLOCK_FILE": str(block),
    }
    workers: list[subprocess.Popen] = []
    try:
        with transaction.atomic():
            event = event_emit(
                type="CrashTest", aggregate_type="test", aggregate_id="1", payload={}
            )
        # (committed: the dispatch task is now in the queue)
        delivery = EventDelivery.objects.get(event=event)

        # when: a worker picks it up and is killed -9 in the middle of the handler
        workers.append(start_worker(env, log))
        wait_for(started.exists, 30, "the handler to start", log)
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts) == (EventDelivery.State.PENDING, 1)
        kill(workers[0])
        # The handler's write died with its transaction.
        assert not Event.objects.filter(type="Echo").exists()

        # and a new worker starts while the sweep schedule fires (enqueued here as the
        # django-q2 scheduler would, every minute, to keep the test to seconds)
        block.unlink()
        workers.append(start_worker(env, log))

        def delivered() -> bool:
            delivery.refresh_from_db()
            if delivery.state != EventDelivery.State.DONE:
                async_task("flashpay.events.tasks.events_sweep")
                time.sleep(1)
            return delivery.state == EventDelivery.State.DONE

        wait_for(delivered, 40, "the delivery to be redone", log)

        # then: the handler's effect happened exactly once and the delivery is done
        assert delivery.attempts == 2
        assert delivery.delivered_at is not None
        echo = Event.objects.get(type="Echo")
        assert echo.payload == {"of": event.pk}
        assert len(started.read_text().split()) == 2
    finally:
        for worker in workers:
            kill(worker)
