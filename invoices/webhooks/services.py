"""Writes of webhooks: CRUD, delivery rows for invoice events, signed HTTP attempts, retries, redelivery.

Sending follows the outbox pattern of ``flashpay.events``: a delivery row is written in the
transaction that handles the event, the HTTP POST is queued after commit, and the deliveries are
retried work (``flashpay.work``: claim under a lease, backoff, give up), so a periodic sweep
(``webhook_deliveries_send_due``) finishes whatever a restarted worker left behind. This module
keeps only the webhook's own part: the signed POST and its attempt log.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from flashpay.accounts.models import Store
from flashpay.errors import Conflict
from flashpay.events.broker import task_enqueue
from flashpay.events.models import Event
from flashpay.ids import new_id
from flashpay.work.policies import Outcome, WorkPolicy
from flashpay.work.services import work_enqueue_on_commit, work_run, work_sweep
from invoices.webhooks.egress import webhook_client
from invoices.webhooks.models import (
    Webhook,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    new_webhook_id,
)
from invoices.webhooks.sealing import secret_seal, secret_unseal

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "BTCPay-Sig"
USER_AGENT = "FlashPay-Webhook/1.0"


def _new_secret() -> str:
    # BTCPay's generated secrets: 16 random bytes in base58.
    return new_id(16)


def webhook_create(
    *,
    store: Store,
    url: str,
    enabled: bool = True,
    automatic_redelivery: bool = True,
    everything: bool = True,
    specific_events: list[str] | None = None,
    secret: str | None = None,
) -> tuple[Webhook, str]:
    """Create a webhook; returns it with its secret (the caller's, or a generated one), shown once."""
    secret = secret or _new_secret()
    webhook_id = new_webhook_id()
    webhook = Webhook(
        id=webhook_id,
        store=store,
        url=url,
        enabled=enabled,
        automatic_redelivery=automatic_redelivery,
        everything=everything,
        specific_events=list(specific_events or []),
        secret_sealed=secret_seal(secret=secret, webhook_id=webhook_id),
    )
    webhook.full_clean()
    webhook.save(force_insert=True)
    return webhook, secret


def webhook_update(
    *,
    webhook: Webhook,
    url: str,
    enabled: bool = True,
    automatic_redelivery: bool = True,
    everything: bool = True,
    specific_events: list[str] | None = None,
    secret: str | None = None,
) -> Webhook:
    """Replace a webhook's settings (Greenfield PUT); an empty ``secret`` keeps the current one."""
    webhook.url = url
    webhook.enabled = enabled
    webhook.automatic_redelivery = automatic_redelivery
    webhook.everything = everything
    webhook.specific_events = list(specific_events or [])
    fields = ["url", "enabled", "automatic_redelivery", "everything", "specific_events"]
    if secret:
        webhook.secret_sealed = secret_seal(secret=secret, webhook_id=webhook.pk)
        fields.append("secret_sealed")
    webhook.full_clean()
    webhook.save(update_fields=fields)
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    """Delete a webhook with its delivery log (pending retries stop with it)."""
    webhook.delete()


def webhook_signature(*, secret: str, body: bytes) -> str:
    """The ``BTCPay-Sig`` header value: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _webhook_wants(webhook: Webhook, event_type: str) -> bool:
    return webhook.enabled and (webhook.everything or event_type in (webhook.specific_events or []))


def _request_body(
    *, payload: dict, delivery_id: str, webhook_id: str, original_delivery_id: str,
    is_redelivery: bool, created_at,
) -> str:
    # Greenfield's WebhookEvent fields first, then the event's own fields (type, storeId...).
    body = {
        "deliveryId": delivery_id,
        "webhookId": webhook_id,
        "originalDeliveryId": original_delivery_id,
        "isRedelivery": is_redelivery,
    }
    for key, value in payload.items():
        body.setdefault(key, value)
    body.setdefault("timestamp", int(created_at.timestamp()))
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _enqueue_send(delivery_id: str) -> None:
    """Queue one send; if the broker is down, the periodic sweep sends it instead."""
    task_enqueue("invoices.webhooks.tasks.webhook_delivery_send_task", delivery_id, group="webhooks")


def _enqueue_on_commit(delivery_ids: list[str]) -> None:
    work_enqueue_on_commit(WEBHOOK_DELIVERIES, delivery_ids)


def webhook_deliveries_create(*, event: Event) -> list[WebhookDelivery]:
    """One delivery per enabled webhook of the event's store that wants its type (idempotent).

    Runs as an outbox handler, possibly more than once for the same event: a webhook that already
    has its delivery for this event gets no second one (the unique constraint backs this up).
    """
    store_id = (event.payload or {}).get("storeId")
    if not store_id:
        logger.warning("event %s (%s) has no storeId; no webhook to call", event.pk, event.type)
        return []
    webhooks = [
        w for w in Webhook.objects.filter(store_id=store_id, enabled=True).order_by("created_at", "pk")
        if _webhook_wants(w, event.type)
    ]
    done = set(
        WebhookDelivery.objects.filter(event=event, original_delivery__isnull=True).values_list(
            "webhook_id", flat=True
        )
    )
    now = timezone.now()
    created = []
    for webhook in webhooks:
        if webhook.pk in done:
            continue
        delivery_id = new_webhook_id()
        delivery = WebhookDelivery(
            id=delivery_id,
            webhook=webhook,
            event=event,
            event_type=event.type,
            request_body=_request_body(
                payload=event.payload, delivery_id=delivery_id, webhook_id=webhook.pk,
                original_delivery_id=delivery_id, is_redelivery=False, created_at=now,
            ),
            next_attempt_at=now,
            created_at=now,
        )
        delivery.full_clean(validate_constraints=False)
        delivery.save(force_insert=True)
        created.append(delivery)
    _enqueue_on_commit([d.pk for d in created])
    return created


def webhook_delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """A new delivery of the same request (new deliveryId, isRedelivery, originalDeliveryId kept).

    Raises Conflict ``webhookdelivery-pruned`` when the original request body is gone.
    """
    if delivery.request_body is None:
        raise Conflict(
            "This webhook delivery has been pruned, so it can't be redelivered.",
            code="webhookdelivery-pruned",
        )
    body = json.loads(delivery.request_body)
    # A redelivery of a redelivery still points at the first delivery, as in BTCPay.
    original = delivery.original_delivery or delivery
    delivery_id = new_webhook_id()
    body["deliveryId"] = delivery_id
    body["webhookId"] = delivery.webhook_id
    body["originalDeliveryId"] = original.pk
    body["isRedelivery"] = True
    now = timezone.now()
    redelivery = WebhookDelivery(
        id=delivery_id,
        webhook_id=delivery.webhook_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        original_delivery=original,
        request_body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        next_attempt_at=now,
        created_at=now,
    )
    redelivery.full_clean(validate_constraints=False)
    with transaction.atomic():
        redelivery.save(force_insert=True)
        _enqueue_on_commit([redelivery.pk])
    return redelivery


def _max_attempts(delivery: WebhookDelivery) -> int:
    return settings.WEBHOOKS_MAX_ATTEMPTS if delivery.webhook.automatic_redelivery else 1


def _is_retryable(http_code: int | None) -> bool:
    # No answer at all (network error, timeout), server errors, Request Timeout, Too Many Requests.
    return http_code is None or http_code >= 500 or http_code in (408, 429)


def _post(*, delivery: WebhookDelivery) -> tuple[str, int | None, str]:
    """POST the stored body once; returns (Greenfield status, HTTP code, error message)."""
    webhook = delivery.webhook
    if not webhook.enabled:
        return WebhookDelivery.Status.FAILED, None, "The webhook is disabled"
    try:
        secret = secret_unseal(sealed=webhook.secret_sealed, webhook_id=webhook.pk)
    except ValueError:
        return WebhookDelivery.Status.FAILED, None, "The webhook secret cannot be decrypted"
    body = delivery.request_body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: webhook_signature(secret=secret, body=body),
    }
    try:
        # No redirects: a 3xx could bounce the signed body to an address the merchant did not enter.
        with webhook_client(
            timeout=settings.WEBHOOKS_TIMEOUT,
            block_private_networks=settings.WEBHOOKS_BLOCK_PRIVATE_NETWORKS,
        ) as client:
            # Streamed and never read: only the status code matters, however big the answer.
            with client.stream("POST", webhook.url, content=body, headers=headers) as response:
                code = response.status_code
    except httpx.TimeoutException:
        return WebhookDelivery.Status.FAILED, None, "Timeout: the endpoint did not answer in time"
    except httpx.HTTPError as exc:
        # The exception text names the URL and the socket error, never the headers.
        return WebhookDelivery.Status.FAILED, None, f"Could not reach the endpoint: {type(exc).__name__}: {exc}"[:500]
    if 200 <= code < 300:
        return WebhookDelivery.Status.HTTP_SUCCESS, code, ""
    return WebhookDelivery.Status.HTTP_ERROR, code, f"The endpoint answered HTTP {code}"


@dataclass(frozen=True)
class _HttpAttempt:
    """One POST, for the delivery's attempt log."""

    started_at: datetime
    duration_ms: int
    status: str
    http_code: int | None


def _delivery_send(delivery: WebhookDelivery) -> Outcome:
    """The "send one" step: one signed POST of the stored body, outside any transaction."""
    started_at = timezone.now()
    clock = time.monotonic()
    status, http_code, error = _post(delivery=delivery)
    attempt = _HttpAttempt(
        started_at=started_at, duration_ms=int((time.monotonic() - clock) * 1000), status=status, http_code=http_code
    )
    if status == WebhookDelivery.Status.HTTP_SUCCESS:
        return Outcome.success(detail=attempt)
    return Outcome.failure(error, retryable=_is_retryable(http_code) and delivery.webhook.enabled, detail=attempt)


def _delivery_record(delivery: WebhookDelivery, outcome: Outcome) -> list[str]:
    """Greenfield's status of the last attempt, and its row in the attempt log."""
    attempt: _HttpAttempt | None = outcome.detail
    if attempt is None:  # given up or failed without an HTTP attempt (its worker died during the last one)
        delivery.status = WebhookDelivery.Status.FAILED
        return ["status"]
    log = WebhookDeliveryAttempt(
        delivery=delivery, number=delivery.attempts, started_at=attempt.started_at,
        duration_ms=attempt.duration_ms, status=attempt.status, http_code=attempt.http_code,
        error_message=delivery.last_error,
    )
    log.full_clean(validate_constraints=False)
    log.save(force_insert=True)
    delivery.status = attempt.status
    delivery.http_code = attempt.http_code
    level = logging.INFO if outcome.done else logging.WARNING
    logger.log(
        level, "webhook delivery %s attempt %s: %s %s %s",
        delivery.pk, delivery.attempts, attempt.status, attempt.http_code or "-", delivery.state,
    )
    return ["status", "http_code"]


# Retried work (flashpay.work): BTCPay's schedule (10 s, 1 min, then every 10 min, 8 attempts;
# one without automatic redelivery), and a lease that outlasts one POST with its timeout.
WEBHOOK_DELIVERIES = WorkPolicy(
    name="webhook delivery",
    model=WebhookDelivery,
    send=_delivery_send,
    delays=lambda: settings.WEBHOOKS_RETRY_DELAYS or [600],
    max_attempts=_max_attempts,
    lease=lambda: timedelta(seconds=settings.WEBHOOKS_TIMEOUT + 60),
    enqueue=lambda delivery_id: _enqueue_send(delivery_id),
    select_related=("webhook",),
    order_by=("next_attempt_at", "created_at", "pk"),
    record=_delivery_record,
)


def webhook_delivery_send(*, delivery_id: str) -> WebhookDelivery | None:
    """Make one attempt at a delivery if it is due and no other worker holds it (else None)."""
    return work_run(WEBHOOK_DELIVERIES, pk=delivery_id)


def webhook_deliveries_send_due(*, limit: int = 200, time_budget: float = 40.0) -> int:
    """Attempt every due delivery (first sends whose task was lost, retries, dead workers' leases).

    Oldest first; each delivery at most once per call. Stops after ``limit`` attempts or
    ``time_budget`` seconds so one sweep ends well inside the worker's task timeout.
    """
    return work_sweep(WEBHOOK_DELIVERIES, limit=limit, time_budget=time_budget)


# How long request bodies are kept for reading and redelivery; afterwards the delivery stays listed
# (status, code, time) but answers 409 webhookdelivery-pruned, as in BTCPay.
KEEP_REQUEST_BODIES = timedelta(days=60)


def webhook_deliveries_prune(*, older_than: timedelta = KEEP_REQUEST_BODIES) -> int:
    """Drop the request bodies of finished deliveries older than ``older_than``; returns how many."""
    cutoff = timezone.now() - older_than
    return (
        WebhookDelivery.objects.filter(created_at__lt=cutoff, request_body__isnull=False)
        .exclude(state=WebhookDelivery.State.PENDING)
        .update(request_body=None)
    )
