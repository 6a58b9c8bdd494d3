"""The outbox events that earn and claw back, delivered as the worker does, from real payments."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from flashpay.events.models import EventDelivery
from flashpay.events.services import event_delivery_redeliver, event_emit
from invoices.onchain.services import onchain_sync_once
from invoices.services.invoices import invoice_create, invoice_mark_status
from lightning.services import lightning_invoices_reconcile
from rewards.models import Award
from rewards.services.lifecycle import awards_mature
from tests.cards.factories import make_programmed_card
from tests.factories import UserFactory
from tests.invoices.conftest import deliver

from .factories import SAT, balance_points, make_member, make_rule, member_points, top_up

pytestmark = pytest.mark.django_db


def card_event(*, holder_id, store_id, payment_hash="ab" * 32, sats=10_000):
    return event_emit(
        type="CardPaymentSucceeded", aggregate_type="card", aggregate_id="card-1",
        payload={"paymentId": "p1", "cardId": "card-1", "holderId": holder_id, "kind": "internal", "amount_msat": sats * SAT,
                 "fee_msat": 0, "payment_hash": payment_hash, "merchantStoreId": store_id, "reason": ""},
        idempotency_key=f"CardPaymentSucceeded:{payment_hash}",
    )


def rule_for(store, points=1_000_000, **fields):
    rule = make_rule(store=store, **fields)
    top_up(rule.funder, points)
    return rule


def test_a_card_payment_event_earns_once_even_when_redelivered():
    from tests.factories import StoreFactory

    store = StoreFactory()
    rule = rule_for(store)
    member = make_member()
    event = card_event(holder_id=member.user_id, store_id=store.pk)
    deliver()
    for delivery in EventDelivery.objects.filter(event=event):
        event_delivery_redeliver(delivery=delivery)
    deliver()
    award = Award.objects.get()
    assert (award.member, award.store_id, award.points, award.source) == (member, store.pk, 221, "card_payment")
    assert award.created_at == event.created_at
    assert member_points(member) == (221, 0)
    assert balance_points(rule.funder.account) == 1_000_000 - 221


def test_card_payments_without_a_holder_or_a_known_merchant_earn_nothing():
    from tests.factories import StoreFactory

    store = StoreFactory()
    rule_for(store)
    card_event(holder_id=None, store_id=store.pk, payment_hash="01" * 32)
    card_event(holder_id=UserFactory().pk, store_id=None, payment_hash="02" * 32)
    deliver()
    assert not Award.objects.exists()
    assert not EventDelivery.objects.exclude(state="done").exists()


def pay_over_lightning(lnd_network, lnd_backend, lnd_external, invoice):
    bolt11 = invoice.prompts.get(payment_method_id="BTC-LN").destination
    assert lnd_external.pay(bolt11, fee_limit_msat=1000, timeout=5).status == "success"
    lightning_invoices_reconcile(backend=lnd_backend, node_pubkey=lnd_network.nodes["flashpay"].pubkey)
    deliver()


def test_a_settled_invoice_earns_for_the_member_its_buyer_email_names(shop, lnd_network, lnd_backend, lnd_external):
    store, _headers = shop
    rule_for(store, tap_points=21)
    member = make_member(UserFactory(email="ann@example.com"))
    invoice = invoice_create(store=store, amount=Decimal("0.0005"), currency="BTC", metadata={"buyerEmail": "ANN@example.com"})
    pay_over_lightning(lnd_network, lnd_backend, lnd_external, invoice)
    award = Award.objects.get()
    # 2 % of 50,000 sats, no tap reward (not a card payment)
    assert (award.member, award.points, award.invoice_id, award.source) == (member, 1_000, invoice.pk, "invoice")
    assert award.purchase_msat == 50_000 * SAT


def test_flash_member_id_names_the_member_and_strangers_earn_nothing(shop, lnd_network, lnd_backend, lnd_external):
    store, _headers = shop
    rule_for(store)
    member = make_member()
    named = invoice_create(store=store, amount=Decimal("0.0001"), currency="BTC", metadata={"flashMemberId": member.public_id})
    stranger = invoice_create(store=store, amount=Decimal("0.0001"), currency="BTC", metadata={"buyerEmail": "nobody@example.com"})
    pay_over_lightning(lnd_network, lnd_backend, lnd_external, named)
    pay_over_lightning(lnd_network, lnd_backend, lnd_external, stranger)
    assert list(Award.objects.values_list("member", "invoice_id")) == [(member.pk, named.pk)]


def test_a_cardholder_named_by_email_becomes_a_member(shop, lnd_network, lnd_backend, lnd_external):
    store, _headers = shop
    rule_for(store)
    user = UserFactory(email="bob@example.com")
    make_programmed_card(holder=user)
    invoice = invoice_create(store=store, amount=Decimal("0.0001"), currency="BTC", metadata={"buyerEmail": "bob@example.com"})
    pay_over_lightning(lnd_network, lnd_backend, lnd_external, invoice)
    assert Award.objects.get().member.user == user


def test_marked_settled_then_marked_invalid_claws_back(shop, lnd_network):
    store, _headers = shop
    rule = rule_for(store)
    member = make_member(UserFactory(email="cy@example.com"))
    invoice = invoice_create(store=store, amount=Decimal("0.0001"), currency="BTC", metadata={"buyerEmail": "cy@example.com"})
    invoice_mark_status(invoice=invoice, status="Settled", actor="merchant")
    deliver()
    assert member_points(member) == (200, 0)  # 2 % of what was asked: 10,000 sats
    invoice_mark_status(invoice=invoice, status="Invalid", actor="merchant")
    deliver()
    award = Award.objects.get()
    assert (award.status, award.clawback_reason) == ("clawed_back", "the invoice was marked invalid")
    assert member_points(member) == (0, 0)
    assert balance_points(rule.funder.account) == 1_000_000


def test_refund_and_reversal_events_claw_back_inside_the_hold_period_only():
    from tests.factories import StoreFactory

    store = StoreFactory()
    rule_for(store)
    member = make_member()
    card_event(holder_id=member.user_id, store_id=store.pk, payment_hash="0a" * 32)
    card_event(holder_id=member.user_id, store_id=store.pk, payment_hash="0b" * 32)
    card_event(holder_id=member.user_id, store_id=store.pk, payment_hash="0c" * 32)
    deliver()
    Award.objects.filter(payment_hash="0a" * 32).update(invoice_id="inv-a")
    # the refunds feature's event for the first purchase's invoice, a reversal of the second
    event_emit(type="InvoiceRefunded", aggregate_type="invoice", aggregate_id="inv-a", payload={"invoiceId": "inv-a"})
    event_emit(type="CardPaymentReversed", aggregate_type="card", aggregate_id="card-1", payload={"payment_hash": "0b" * 32})
    deliver()
    statuses = dict(Award.objects.values_list("payment_hash", "status"))
    assert statuses == {"0a" * 32: "clawed_back", "0b" * 32: "clawed_back", "0c" * 32: "pending"}
    # past the hold period a reversal changes nothing
    awards_mature(now=timezone.now() + timedelta(days=8))
    event_emit(type="CardPaymentReversed", aggregate_type="card", aggregate_id="card-1", payload={"payment_hash": "0c" * 32})
    deliver()
    assert Award.objects.get(payment_hash="0c" * 32).status == "available"
    assert member_points(member) == (0, 221)


def test_an_onchain_payment_reorged_out_claws_back(shop, bitcoind_client, bitcoind_miner):
    store, _headers = shop
    rule = rule_for(store)
    member = make_member(UserFactory(email="dee@example.com"))
    onchain_sync_once(client=bitcoind_client)
    invoice = invoice_create(
        store=store, amount=Decimal("0.001"), currency="BTC",
        metadata={"buyerEmail": "dee@example.com"}, checkout={"speedPolicy": "HighSpeed"},
    )
    address = invoice.prompts.get(payment_method_id="BTC-CHAIN").destination
    txid = bitcoind_miner.send_to_address(address, Decimal("0.001"))
    onchain_sync_once(client=bitcoind_client)
    deliver()
    assert member_points(member) == (2_000, 0)
    # the transaction is double-spent away: the watcher reports the payment removed
    bitcoind_client.call("dropmempooltx", txid)
    bitcoind_miner.generate_to_address(1, bitcoind_miner.get_new_address())
    onchain_sync_once(client=bitcoind_client)
    deliver()
    award = Award.objects.get()
    assert award.status == "clawed_back" and "reorg" in award.clawback_reason
    assert member_points(member) == (0, 0)
    assert balance_points(rule.funder.account) == 1_000_000
