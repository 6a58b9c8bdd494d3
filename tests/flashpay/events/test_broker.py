"""The configured django-q2 broker queues tasks the cluster can take and run."""
import pytest
from django_q.brokers import get_broker
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from flashpay.events.broker import DatabaseBroker

pytestmark = pytest.mark.django_db


def test_a_queued_task_is_dequeued_once_with_its_arguments():
    broker = get_broker()
    assert isinstance(broker, DatabaseBroker)
    task_id = async_task("flashpay.events.tasks.dispatch_event", 42, group="events")
    assert broker.queue_size() == 1

    [(package_id, payload)] = broker.dequeue()
    task = SignedPackage.loads(payload)
    assert (task["id"], task["func"], task["args"], task["group"]) == (task_id, "flashpay.events.tasks.dispatch_event", (42,), "events")
    assert broker.dequeue() is None  # locked while the worker runs it
    broker.acknowledge(package_id)
    assert broker.queue_size() == 0 and broker.lock_size() == 0
