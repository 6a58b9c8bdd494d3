"""Writes of store e-mail rules and their messages: rule CRUD, one message per (rule, event), sending (retried work)."""
from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from flashpay.accounts.models import Store
from flashpay.errors import FieldError, NotFound
from flashpay.events.broker import task_enqueue
from flashpay.events.models import Event
from flashpay.work.policies import WorkPolicy
from flashpay.work.services import work_enqueue_on_commit, work_run, work_sweep
from invoices.emails.backend import StoreSmtpBackend
from invoices.emails.models import EmailMessage, EmailRule, StoreEmailSettings
from invoices.emails.templating import (
    html_to_text,
    template_context,
    template_is_html,
    template_render,
)
from invoices.webhooks.sealing import seal, unseal

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Seconds before retry 1, 2, 3... (the last repeats): SMTP outages are usually short.
RETRY_DELAYS = (60, 300, 1800)
# How long a claimed message waits before the sweep assumes its worker died.
_LEASE = timedelta(minutes=2)


def email_rule_create(
    *, store: Store, trigger: str, subject: str, body: str, to: str = "",
    customer_email: bool = False, enabled: bool = True,
) -> EmailRule:
    rule = EmailRule(
        store=store, trigger=trigger, to=to, customer_email=customer_email,
        subject=subject, body=body, enabled=enabled,
    )
    rule.full_clean()
    rule.save(force_insert=True)
    return rule


def email_rule_update(
    *, rule: EmailRule, trigger: str, subject: str, body: str, to: str = "",
    customer_email: bool = False, enabled: bool = True,
) -> EmailRule:
    rule.trigger = trigger
    rule.to = to
    rule.customer_email = customer_email
    rule.subject = subject
    rule.body = body
    rule.enabled = enabled
    rule.full_clean()
    rule.save(update_fields=["trigger", "to", "customer_email", "subject", "body", "enabled"])
    return rule


def email_rule_delete(*, rule: EmailRule) -> None:
    rule.delete()


_SMTP_PASSWORD = b"flashpay.emails.smtp-password"
SMTP_TIMEOUT = 20


def store_email_settings_update(
    *, store: Store, from_email: str, server: str, port: int, login: str = "",
    password: str | None = None, disable_certificate_check: bool = False,
) -> StoreEmailSettings:
    """Set a store's SMTP server (Greenfield PUT); an empty ``password`` keeps the stored one."""
    settings_row = StoreEmailSettings.objects.filter(store=store).first() or StoreEmailSettings(store=store)
    settings_row.from_email = from_email
    settings_row.server = server
    settings_row.port = port
    settings_row.login = login
    settings_row.disable_certificate_check = disable_certificate_check
    if password:
        settings_row.password_sealed = seal(plaintext=password, purpose=_SMTP_PASSWORD, aad=store.pk)
    settings_row.full_clean()
    settings_row.save()
    return settings_row


def _connection(store_id: str):
    """The store's own SMTP server if it set one, else FlashPay's (Django's EMAIL_* settings)."""
    config = StoreEmailSettings.objects.filter(store_id=store_id).first()
    if config is None:
        return None, settings.DEFAULT_FROM_EMAIL
    password = ""
    if config.password_sealed:
        password = unseal(sealed=config.password_sealed, purpose=_SMTP_PASSWORD, aad=store_id)
    backend = StoreSmtpBackend(
        host=config.server, port=config.port, username=config.login, password=password,
        timeout=SMTP_TIMEOUT, disable_certificate_check=config.disable_certificate_check,
        fail_silently=False,
    )
    return backend, config.from_email


def store_email_send(*, store: Store, to: str, subject: str, body: str) -> EmailMessage:
    """Queue one e-mail through the store's SMTP server (Greenfield ``email/send``).

    Raises FieldError when the store has no SMTP settings: BTCPay answers 400 then.
    """
    if not StoreEmailSettings.objects.filter(store=store).exists():
        raise FieldError("", "The store's SMTP server is not configured")
    try:
        validate_email(to)
    except ValidationError:
        raise FieldError("email", "Invalid e-mail address")
    message = EmailMessage(
        store=store, recipients=[to], subject=" ".join(subject.split())[:1000], body=body,
    )
    message.full_clean(validate_constraints=False)
    with transaction.atomic():
        message.save(force_insert=True)
        work_enqueue_on_commit(EMAIL_MESSAGES, [message.pk])
    return message


def _buyer_email(metadata: dict) -> str | None:
    address = metadata.get("buyerEmail")
    if not isinstance(address, str) or not address.strip():
        return None
    try:
        validate_email(address.strip())
    except ValidationError:
        logger.info("invoice buyerEmail is not a valid address; the buyer is not mailed")
        return None
    return address.strip()


def _invoice_data(*, invoice_id: str | None, store_id: str) -> dict | None:
    """Greenfield ``InvoiceData`` of the event's invoice, through the invoices selectors; None if gone."""
    from invoices.selectors import invoice_data, invoice_get

    if not invoice_id:
        return None
    try:
        return invoice_data(invoice_get(invoice_id=str(invoice_id), store_id=store_id))
    except NotFound:
        return None


def _merchant_addresses(rule: EmailRule) -> list[str]:
    out: list[str] = []
    for address in (a.strip() for a in rule.to.split(",")):
        if address and address.lower() not in {o.lower() for o in out}:
            out.append(address)
    return out


def _enqueue_send(message_id: int) -> None:
    task_enqueue("invoices.emails.tasks.email_message_send_task", message_id, group="emails")


def email_messages_create(*, event: Event) -> list[EmailMessage]:
    """Render one message per enabled rule of the event's store and type; idempotent per (rule, event)."""
    payload = event.payload or {}
    store_id = payload.get("storeId")
    if not store_id:
        return []
    rules = list(
        EmailRule.objects.select_related("store")
        .filter(store_id=store_id, trigger=event.type, enabled=True)
        .order_by("pk")
    )
    done = set(EmailMessage.objects.filter(event=event).values_list("rule_id", flat=True))
    metadata = payload.get("metadata") or {}
    invoice = _invoice_data(invoice_id=payload.get("invoiceId"), store_id=store_id) if rules else None
    created = []
    for rule in rules:
        if rule.pk in done:
            continue
        context = template_context(
            event_type=event.type, payload=payload, store_name=rule.store.name, invoice=invoice
        )
        if template_is_html(rule.body):
            body_html = template_render(rule.body, context=context, metadata=metadata, escape=True)
            body_text = html_to_text(body_html)
        else:
            body_html, body_text = "", template_render(rule.body, context=context, metadata=metadata)
        recipients = _merchant_addresses(rule)
        buyer = (_buyer_email(metadata) or "") if rule.customer_email else ""
        message = EmailMessage(
            store=rule.store,
            rule=rule,
            event=event,
            recipients=recipients,
            buyer_email=buyer,
            # Header injection: a subject is one line whatever the metadata holds.
            subject=" ".join(template_render(rule.subject, context=context, metadata=metadata).split())[:1000],
            body=body_text,
            body_html=body_html,
            state=EmailMessage.State.PENDING if recipients or buyer else EmailMessage.State.SKIPPED,
        )
        message.full_clean(validate_constraints=False)
        message.save(force_insert=True)
        created.append(message)
        if message.state == EmailMessage.State.PENDING:
            work_enqueue_on_commit(EMAIL_MESSAGES, [message.pk])
    return created


def _smtp_message(message: EmailMessage, connection, from_email: str) -> mail.EmailMultiAlternatives:
    if message.buyer_email:
        # The buyer must not see the merchant's internal addresses: those go in Bcc.
        to = [message.buyer_email]
        bcc = [a for a in message.recipients if a.lower() != message.buyer_email.lower()]
    else:
        to, bcc = list(message.recipients), []
    email = mail.EmailMultiAlternatives(
        subject=message.subject, body=message.body, from_email=from_email,
        to=to, bcc=bcc, connection=connection,
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    return email


def _message_send(message: EmailMessage) -> None:
    """The "send one" step: hand the message to the store's SMTP server (or FlashPay's); raises on failure."""
    connection, from_email = _connection(message.store_id)
    _smtp_message(message, connection, from_email).send(fail_silently=False)


# Retried work (flashpay.work): SMTP outages are usually short, so a few quick retries.
EMAIL_MESSAGES = WorkPolicy(
    name="e-mail",
    model=EmailMessage,
    send=_message_send,
    delays=RETRY_DELAYS,
    max_attempts=lambda message: MAX_ATTEMPTS,
    lease=lambda: _LEASE,
    enqueue=lambda message_id: _enqueue_send(message_id),
    done_state=EmailMessage.State.SENT,
    done_at="sent_at",
)


def email_message_send(*, message_id: int) -> EmailMessage | None:
    """Send one message if it is due and free (else None: sent, not due, or another worker has it)."""
    return work_run(EMAIL_MESSAGES, pk=message_id)


def email_messages_send_due(*, limit: int = 200, time_budget: float = 40.0) -> int:
    """Send every due message (retries, lost tasks, dead workers), oldest first."""
    return work_sweep(EMAIL_MESSAGES, limit=limit, time_budget=time_budget)
