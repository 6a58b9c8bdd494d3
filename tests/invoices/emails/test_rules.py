"""Store e-mail rules on invoice events, received by a real SMTP server."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from invoices.emails.models import EmailMessage, EmailRule
from invoices.emails.services import (
    email_message_send,
    email_messages_create,
    email_messages_send_due,
    email_rule_create,
)
from tests.factories import StoreFactory
from tests.invoices.emails.conftest import deliver, invoice_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return StoreFactory(name="Kingston Coffee")


def test_merchant_and_buyer_rule_with_placeholders(store, smtp_server, clock):
    # given
    email_rule_create(
        store=store, trigger="InvoiceSettled", to="owner@kingston.example, books@kingston.example",
        customer_email=True,
        subject="Invoice {Invoice.Id} for order {Invoice.OrderId} is {Invoice.Status}",
        body="Thanks for buying {Invoice.Metadata.itemDesc} at {Store.Name}.\n"
             "Invoice: {Invoice.Id} (store {Invoice.StoreId}) {Invoice.Metadata.missing}{Unknown.Thing}",
    )
    event = invoice_event(
        store_id=store.pk, type="InvoiceSettled", invoice_id="INV77",
        metadata={"orderId": "A-1001", "itemDesc": "2 lattes", "buyerEmail": "buyer@example.org"},
    )
    # when
    deliver(event)
    assert email_messages_send_due() == 1
    # then: one SMTP transaction, to the buyer, merchants in Bcc
    [envelope] = smtp_server.mailbox.received
    assert sorted(envelope.rcpt_tos) == ["books@kingston.example", "buyer@example.org", "owner@kingston.example"]
    message = envelope.message
    assert message["To"] == "buyer@example.org"
    assert message["Bcc"] is None  # the buyer never sees the merchant's addresses
    assert message["From"] == "FlashPay <noreply@flashpay.example>"
    assert message["Subject"] == "Invoice INV77 for order A-1001 is Settled"
    body = message.get_content()
    assert "Thanks for buying 2 lattes at Kingston Coffee." in body
    assert f"Invoice: INV77 (store {store.pk}) {{Unknown.Thing}}" in body
    stored = EmailMessage.objects.get()
    assert stored.state == "sent" and stored.sent_at is not None and stored.attempts == 1


def test_merchant_only_rule(store, smtp_server, clock):
    email_rule_create(store=store, trigger="InvoiceCreated", to="owner@kingston.example",
                      subject="New invoice {Invoice.Id}", body="Order {Invoice.OrderId}")
    deliver(invoice_event(store_id=store.pk, type="InvoiceCreated", metadata={"buyerEmail": "b@example.org"}))
    email_messages_send_due()
    [envelope] = smtp_server.mailbox.received
    assert envelope.rcpt_tos == ["owner@kingston.example"]
    assert envelope.message["To"] == "owner@kingston.example"
    assert envelope.message.get_content().strip() == "Order"  # no orderId: the placeholder is empty


def test_only_matching_enabled_rules_of_the_store_send(store, smtp_server, clock):
    email_rule_create(store=store, trigger="InvoiceExpired", to="a@kingston.example", subject="s", body="b")
    email_rule_create(store=store, trigger="InvoiceSettled", to="b@kingston.example", subject="s", body="b",
                      enabled=False)
    email_rule_create(store=StoreFactory(), trigger="InvoiceSettled", to="c@other.example", subject="s", body="b")
    deliver(invoice_event(store_id=store.pk, type="InvoiceSettled"))
    assert email_messages_send_due() == 0
    assert smtp_server.mailbox.received == []
    assert not EmailMessage.objects.exists()


def test_buyer_rule_without_buyer_email_sends_nothing(store, smtp_server, clock):
    email_rule_create(store=store, trigger="InvoiceSettled", customer_email=True, subject="s", body="b")
    deliver(invoice_event(store_id=store.pk, metadata={"buyerEmail": "not an address"}))
    assert email_messages_send_due() == 0
    assert smtp_server.mailbox.received == []
    assert EmailMessage.objects.get().state == "skipped"


def test_one_mail_per_rule_and_event_even_when_handled_and_sent_twice(store, smtp_server, clock):
    email_rule_create(store=store, trigger="InvoiceSettled", to="owner@kingston.example", subject="s", body="b")
    event = invoice_event(store_id=store.pk)
    deliver(event)
    assert email_messages_create(event=event) == []  # the outbox delivers at least once
    message = EmailMessage.objects.get()
    assert email_message_send(message_id=message.pk) is not None
    assert email_message_send(message_id=message.pk) is None
    assert email_messages_send_due() == 0
    assert len(smtp_server.mailbox.received) == 1


def test_smtp_outage_is_retried_later(store, smtp_server, clock):
    email_rule_create(store=store, trigger="InvoiceSettled", to="owner@kingston.example", subject="s", body="b")
    smtp_server.stop()
    deliver(invoice_event(store_id=store.pk))
    email_messages_send_due()
    message = EmailMessage.objects.get()
    assert message.state == "pending" and message.attempts == 1
    assert "Connection" in message.last_error or "refused" in message.last_error.lower()
    smtp_server.start()
    assert email_messages_send_due() == 0  # not due yet
    clock.advance(seconds=61)
    assert email_messages_send_due() == 1
    message.refresh_from_db()
    assert message.state == "sent" and message.attempts == 2
    assert len(smtp_server.mailbox.received) == 1


def test_metadata_cannot_inject_headers(store, smtp_server, clock):
    email_rule_create(store=store, trigger="InvoiceSettled", to="owner@kingston.example",
                      subject="Order {Invoice.OrderId}", body="b")
    deliver(invoice_event(store_id=store.pk, metadata={"orderId": "1\r\nBcc: evil@attacker.example"}))
    email_messages_send_due()
    [envelope] = smtp_server.mailbox.received
    assert envelope.rcpt_tos == ["owner@kingston.example"]
    assert envelope.message["Bcc"] is None
    assert envelope.message["Subject"] == "Order 1 Bcc: evil@attacker.example"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"to": "", "customer_email": False},
        {"to": "not-an-address"},
        {"to": "ok@example.org", "trigger": "NoSuchEvent"},
        {"to": "ok@example.org", "subject": ""},
    ],
)
def test_invalid_rule_is_refused_and_not_written(store, kwargs):
    data = {"trigger": "InvoiceSettled", "subject": "s", "body": "b", **kwargs}
    with pytest.raises(ValidationError):
        email_rule_create(store=store, **data)
    assert not EmailRule.objects.exists()


def test_real_invoice_event_mail_has_price_currency_and_link(shop, smtp_server, clock):
    # A real invoice of a store with payment methods (devnodes): its own InvoiceCreated outbox
    # event, and price/currency/link read through the invoices selectors.
    from tests.invoices.conftest import deliver as deliver_all
    from tests.invoices.factories import make_invoice

    store, _headers = shop
    email_rule_create(store=store, trigger="InvoiceCreated", to="owner@kingston.example",
                      subject="{Invoice.Price} {Invoice.Currency} for {Invoice.OrderId}",
                      body="Pay at {Invoice.Link} ({Invoice.Status})")
    invoice = make_invoice(store=store, amount="12.50", currency="USD", metadata={"orderId": "B-7"})
    deliver_all()
    email_messages_send_due()
    [envelope] = smtp_server.mailbox.received
    assert envelope.message["Subject"] == "12.50 USD for B-7"
    body = envelope.message.get_content()
    assert invoice.pk in body and "(New)" in body


def test_html_rule_is_sent_as_html_with_text_part_and_escaped_values(store, smtp_server, clock):
    email_rule_create(
        store=store, trigger="InvoiceSettled", to="owner@kingston.example", subject="Paid",
        body="<p>Order <b>{Invoice.OrderId}</b> paid.</p><p>Note: {Invoice.Metadata.note}</p>",
    )
    deliver(invoice_event(store_id=store.pk, metadata={
        "orderId": "A&B", "note": '<a href="https://evil.example">claim refund</a>',
    }))
    email_messages_send_due()
    [envelope] = smtp_server.mailbox.received
    message = envelope.message
    html_part = message.get_body(preferencelist=("html",)).get_content()
    text_part = message.get_body(preferencelist=("plain",)).get_content()
    assert "<p>Order <b>A&amp;B</b> paid.</p>" in html_part
    assert '<a href="https://evil.example">' not in html_part
    assert "&lt;a href=&quot;https://evil.example&quot;&gt;" in html_part
    assert text_part.splitlines()[0] == "Order A&B paid."
    assert "<p>" not in text_part
