"""Webhook sending against a real HTTP receiver: signature, order, retries, no-retry cases, redelivery."""
from __future__ import annotations

import pytest
from django.db import IntegrityError

from flashpay.errors import Conflict
from invoices.webhooks.models import WebhookDelivery, WebhookDeliveryAttempt
from invoices.webhooks.services import (
    webhook_create,
    webhook_deliveries_create,
    webhook_deliveries_send_due,
    webhook_delivery_redeliver,
    webhook_delivery_send,
    webhook_update,
)
from tests.factories import StoreFactory
from tests.invoices.webhooks.conftest import deliver, invoice_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return StoreFactory()


def _hook(store, receiver, path="/hook", **kwargs):
    webhook, secret = webhook_create(store=store, url=receiver.url(path), **kwargs)
    receiver.secret = secret
    return webhook


def test_events_arrive_in_order_signed_with_greenfield_body(store, receiver, clock):
    # given
    webhook = _hook(store, receiver)
    types = ["InvoiceCreated", "InvoiceReceivedPayment", "InvoiceProcessing", "InvoiceSettled"]
    # when
    for t in types:
        deliver(invoice_event(store_id=store.pk, type=t, invoice_id="INV9"))
        clock.advance(seconds=1)
    assert webhook_deliveries_send_due() == 4
    # then
    got = receiver.received("/hook")
    assert [r.json["type"] for r in got] == types
    assert all(r.signature_valid for r in got)
    assert all(r.headers["content-type"] == "application/json" for r in got)
    body = got[-1].json
    delivery = WebhookDelivery.objects.get(pk=body["deliveryId"])
    assert body["webhookId"] == webhook.pk
    assert body["originalDeliveryId"] == delivery.pk
    assert body["isRedelivery"] is False
    assert body["storeId"] == store.pk and body["invoiceId"] == "INV9"
    assert body["metadata"] == {"orderId": "order-42"}
    assert body["timestamp"] == 1764169200
    assert delivery.state == "done" and delivery.status == "HttpSuccess" and delivery.http_code == 200


def test_signature_is_over_the_raw_body_with_the_current_secret(store, receiver, clock):
    webhook = _hook(store, receiver)
    webhook_update(webhook=webhook, url=webhook.url, secret="rotated-secret")
    deliver(invoice_event(store_id=store.pk))
    webhook_deliveries_send_due()
    [request] = receiver.received()
    assert not request.signature_valid  # signed with the new secret, not the first one
    receiver.secret = "rotated-secret"
    from tests.invoices.webhooks.conftest import _verify

    assert _verify("rotated-secret", request.raw, request.headers["btcpay-sig"])


def test_two_server_errors_then_success_is_three_logged_attempts(store, receiver, clock):
    # given: the endpoint fails twice
    _hook(store, receiver)
    receiver.answer("/hook", 500, 503)
    deliver(invoice_event(store_id=store.pk))
    # when: first attempt now, then the sweep as time passes
    assert webhook_deliveries_send_due() == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.status, delivery.http_code) == ("pending", "HttpError", 500)
    clock.advance(seconds=5)
    assert webhook_deliveries_send_due() == 0  # not due before 10 s
    clock.advance(seconds=6)
    assert webhook_deliveries_send_due() == 1
    clock.advance(seconds=30)
    assert webhook_deliveries_send_due() == 0  # second retry waits a minute
    clock.advance(seconds=31)
    assert webhook_deliveries_send_due() == 1
    # then
    delivery.refresh_from_db()
    assert (delivery.state, delivery.status, delivery.http_code, delivery.attempts) == (
        "done", "HttpSuccess", 200, 3,
    )
    log = list(WebhookDeliveryAttempt.objects.filter(delivery=delivery).values_list("number", "http_code", "status"))
    assert log == [(1, 500, "HttpError"), (2, 503, "HttpError"), (3, 200, "HttpSuccess")]
    # the same signed body (same deliveryId) each time
    bodies = {r.raw for r in receiver.received()}
    assert len(receiver.received()) == 3 and len(bodies) == 1


@pytest.mark.parametrize("code", [400, 401, 404, 410])
def test_client_error_is_failed_without_retry(store, receiver, clock, code):
    _hook(store, receiver)
    receiver.answer("/hook", code)
    deliver(invoice_event(store_id=store.pk))
    webhook_deliveries_send_due()
    clock.advance(hours=3)
    assert webhook_deliveries_send_due() == 0
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.status, delivery.http_code, delivery.attempts) == (
        "failed", "HttpError", code, 1,
    )
    assert len(receiver.received()) == 1


@pytest.mark.parametrize("code", [429, 408, 502])
def test_rate_limited_timeout_and_5xx_are_retried(store, receiver, clock, code):
    _hook(store, receiver)
    receiver.answer("/hook", code)
    deliver(invoice_event(store_id=store.pk))
    webhook_deliveries_send_due()
    clock.advance(seconds=11)
    assert webhook_deliveries_send_due() == 1
    assert WebhookDelivery.objects.get().state == "done"
    assert len(receiver.received()) == 2


def test_gives_up_after_eight_attempts_on_the_documented_schedule(store, receiver, clock):
    _hook(store, receiver)
    receiver.answer("/hook", *([500] * 20))
    deliver(invoice_event(store_id=store.pk))
    webhook_deliveries_send_due()
    waits = [10, 60, 600, 600, 600, 600, 600]
    for wait in waits:
        clock.advance(seconds=wait - 1)
        assert webhook_deliveries_send_due() == 0
        clock.advance(seconds=1)
        assert webhook_deliveries_send_due() == 1
    clock.advance(hours=5)
    assert webhook_deliveries_send_due() == 0
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("failed", 8)
    assert len(receiver.received()) == 8


def test_network_error_is_failed_status_and_retried(store, receiver, clock):
    # A port nothing listens on: connection refused.
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    webhook, _ = webhook_create(store=store, url=f"http://127.0.0.1:{port}/hook")
    deliver(invoice_event(store_id=store.pk))
    webhook_deliveries_send_due()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.status, delivery.http_code) == ("pending", "Failed", None)
    assert delivery.last_error.startswith("Could not reach the endpoint")
    # the endpoint comes back
    webhook_update(webhook=webhook, url=receiver.url())
    clock.advance(seconds=10)
    assert webhook_deliveries_send_due() == 1
    assert WebhookDelivery.objects.get().state == "done"


def test_without_automatic_redelivery_one_attempt_only(store, receiver, clock):
    _hook(store, receiver, automatic_redelivery=False)
    receiver.answer("/hook", 500)
    deliver(invoice_event(store_id=store.pk))
    webhook_deliveries_send_due()
    clock.advance(hours=1)
    assert webhook_deliveries_send_due() == 0
    assert WebhookDelivery.objects.get().state == "failed"


def test_disabled_webhook_and_unauthorized_events_get_nothing(store, receiver, clock):
    _hook(store, receiver, "/disabled", enabled=False)
    _hook(store, receiver, "/only-settled", everything=False, specific_events=["InvoiceSettled"])
    deliver(invoice_event(store_id=store.pk, type="InvoiceCreated"))
    deliver(invoice_event(store_id=store.pk, type="InvoiceExpired"))
    deliver(invoice_event(store_id=store.pk, type="InvoiceSettled"))
    webhook_deliveries_send_due()
    assert receiver.received("/disabled") == []
    assert [r.json["type"] for r in receiver.received("/only-settled")] == ["InvoiceSettled"]
    assert WebhookDelivery.objects.count() == 1


def test_other_stores_events_are_not_sent(store, receiver, clock):
    _hook(store, receiver)
    deliver(invoice_event(store_id=StoreFactory().pk))
    assert webhook_deliveries_send_due() == 0
    assert receiver.received() == []


def test_handler_run_twice_makes_one_delivery(store, receiver, clock):
    _hook(store, receiver)
    event = invoice_event(store_id=store.pk)
    deliver(event)
    assert webhook_deliveries_create(event=event) == []  # the outbox may deliver twice
    assert WebhookDelivery.objects.count() == 1
    # and the database refuses a second first-delivery of the same event
    delivery = WebhookDelivery.objects.get()
    with pytest.raises(IntegrityError):
        WebhookDelivery.objects.create(webhook=delivery.webhook, event=event, event_type=event.type)


def test_a_delivery_is_sent_once_even_if_its_task_runs_twice(store, receiver, clock):
    _hook(store, receiver)
    deliver(invoice_event(store_id=store.pk))
    delivery = WebhookDelivery.objects.get()
    assert webhook_delivery_send(delivery_id=delivery.pk) is not None
    assert webhook_delivery_send(delivery_id=delivery.pk) is None
    assert webhook_deliveries_send_due() == 0
    assert len(receiver.received()) == 1


def test_redelivery_is_a_new_delivery_pointing_at_the_original(store, receiver, clock):
    _hook(store, receiver)
    deliver(invoice_event(store_id=store.pk))
    webhook_deliveries_send_due()
    original = WebhookDelivery.objects.get()
    # when: redelivered, and that redelivery redelivered again
    first = webhook_delivery_redeliver(delivery=original)
    webhook_deliveries_send_due()
    second = webhook_delivery_redeliver(delivery=first)
    webhook_deliveries_send_due()
    # then
    bodies = [r.json for r in receiver.received()]
    assert [b["deliveryId"] for b in bodies] == [original.pk, first.pk, second.pk]
    assert [b["isRedelivery"] for b in bodies] == [False, True, True]
    assert {b["originalDeliveryId"] for b in bodies} == {original.pk}
    assert all(r.signature_valid for r in receiver.received())
    assert bodies[1]["invoiceId"] == bodies[0]["invoiceId"]
    assert WebhookDelivery.objects.get(pk=second.pk).state == "done"


def test_worker_killed_mid_request_is_retried_after_its_lease(store, receiver, clock):
    from flashpay.work.services import Claim, work_claim
    from invoices.webhooks.services import WEBHOOK_DELIVERIES

    _hook(store, receiver)
    deliver(invoice_event(store_id=store.pk))
    delivery = WebhookDelivery.objects.get()
    # a worker claims the attempt and dies before posting
    assert work_claim(WEBHOOK_DELIVERIES, pk=delivery.pk) == Claim(pk=delivery.pk, attempt=1)
    assert webhook_deliveries_send_due() == 0  # its lease is not over
    clock.advance(minutes=2)
    assert webhook_deliveries_send_due() == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("done", 2)
    assert len(receiver.received()) == 1


def test_secret_is_not_stored_in_clear(store):
    webhook, secret = webhook_create(store=store, url="https://example.com/hook", secret="s3cr3t-value")
    assert secret == "s3cr3t-value"
    assert b"s3cr3t-value" not in bytes(webhook.secret_sealed)


def test_old_finished_request_bodies_are_pruned(store, receiver, clock):
    from invoices.webhooks.services import webhook_deliveries_prune

    _hook(store, receiver)
    receiver.answer("/hook", 200, 500)
    deliver(invoice_event(store_id=store.pk, type="InvoiceCreated"))
    deliver(invoice_event(store_id=store.pk, type="InvoiceSettled"))
    webhook_deliveries_send_due()  # one done, one pending a retry
    clock.advance(days=61)
    assert webhook_deliveries_prune() == 1
    done = WebhookDelivery.objects.get(state="done")
    assert done.request_body is None
    with pytest.raises(Conflict) as excinfo:
        webhook_delivery_redeliver(delivery=done)
    assert excinfo.value.code == "webhookdelivery-pruned"
    assert WebhookDelivery.objects.count() == 2
    assert WebhookDelivery.objects.get(state="pending").request_body is not None


def test_other_greenfield_event_types_with_a_store_are_delivered_too(store, receiver, clock):
    from flashpay.events.services import event_emit

    _hook(store, receiver, "/all")
    _hook(store, receiver, "/invoices-only", everything=False, specific_events=["InvoiceSettled"])
    payload = {"type": "PayoutCreated", "timestamp": 1764169200, "storeId": store.pk, "payoutId": "P1",
               "pullPaymentId": "PP1", "payoutState": "AwaitingApproval"}
    deliver(event_emit(type="PayoutCreated", aggregate_type="payout", aggregate_id="P1", payload=payload))
    webhook_deliveries_send_due()
    [request] = receiver.received("/all")
    assert request.json["payoutId"] == "P1" and request.json["type"] == "PayoutCreated"
    assert receiver.received("/invoices-only") == []


def test_secret_never_reaches_the_logs(store, receiver, clock, caplog):
    caplog.set_level("DEBUG")
    webhook, secret = webhook_create(store=store, url=receiver.url(), secret="do-not-log-this-secret")
    receiver.secret = secret
    receiver.answer("/hook", 500)
    deliver(invoice_event(store_id=store.pk))
    webhook_deliveries_send_due()
    clock.advance(seconds=10)
    webhook_deliveries_send_due()
    assert len(receiver.received()) == 2 and caplog.records
    assert "do-not-log-this-secret" not in caplog.text
    signature = receiver.received()[0].headers["btcpay-sig"]
    assert signature.split("=", 1)[1] not in caplog.text
