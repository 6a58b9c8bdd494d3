"""Tap-to-pay end to end: tap (LNURL-withdraw), callback, internal and external settlement."""

import secrets
import threading
import time
from functools import partial
from urllib.parse import urlsplit

import bolt11
import pytest
from bolt11.models.tags import TagChar, Tags
from coincurve import PrivateKey
from django.urls import reverse
from rest_framework.test import APIClient

from cards import selectors
from cards.models import CardPayment, TapLog, WithdrawRequest
from flashpay.events.models import Event
from flashpay.ledger.accounts import NODE_ACCOUNT_REFERENCE
from flashpay.ledger.models import Transaction
from flashpay.ledger.selectors import account_balance, account_get
from lightning.backends.base import InvoiceState
from lightning.models import LightningInvoice
from lightning.services import lightning_invoice_create
from tests.concurrency import run_together

from .factories import fund_card, make_programmed_card, tap_params

pytestmark = pytest.mark.django_db(transaction=True)

SAT = 1000


def signed_invoice(*, currency: str, amount_msat: int) -> str:
    """A validly signed BOLT11 for another network (BOLT #11 human-readable prefix)."""
    tags = Tags()
    tags.add(TagChar.payment_hash, secrets.token_hex(32))
    tags.add(TagChar.payment_secret, secrets.token_hex(32))
    tags.add(TagChar.description, "elsewhere")
    invoice = bolt11.Bolt11(
        currency=currency, date=int(time.time()), tags=tags, amount_msat=bolt11.MilliSatoshi(amount_msat)
    )
    return bolt11.encode(invoice, private_key=PrivateKey().secret.hex())


def tap(card, counter, client=None, ip="198.51.100.10"):
    client = client or APIClient()
    return client.get(reverse("cards:tap"), tap_params(card, counter), REMOTE_ADDR=ip)


def callback(k1, pr, ip="198.51.100.10"):
    return APIClient().get(reverse("cards:tap-callback"), {"k1": k1, "pr": pr}, REMOTE_ADDR=ip)


def balance(card):
    return selectors.card_balance(card=card)


def node_posted():
    return account_balance(account=account_get(kind="node", reference=NODE_ACCOUNT_REFERENCE)).posted.value


def test_tap_offers_a_withdrawal_bounded_by_balance_and_limits(settings):
    # given: 50 000 sat on a card with a 20 000 sat per-payment limit
    settings.FLASHPAY_BASE_URL = "https://pay.example.com"
    card = make_programmed_card(per_transaction_limit_msat=20_000 * SAT, daily_limit_msat=30_000 * SAT)
    fund_card(card, 50_000 * SAT)
    # when
    response = tap(card, 1)
    # then
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["tag"] == "withdrawRequest"
    assert body["callback"] == "https://pay.example.com/cards/tap/callback"
    assert len(body["k1"]) == 64
    assert body["minWithdrawable"] == settings.CARD_MIN_WITHDRAWABLE_MSAT
    assert body["maxWithdrawable"] == 20_000 * SAT
    card.refresh_from_db()
    assert card.last_counter == 1
    assert TapLog.objects.get(card=card).outcome == TapLog.Outcome.ACCEPTED
    # the k1 itself is not stored
    assert not WithdrawRequest.objects.filter(k1_hash=body["k1"]).exists()


def test_tap_max_is_the_balance_net_of_the_fee_reserve():
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    body = tap(card, 1).json()
    amount = body["maxWithdrawable"]
    assert 0 < amount < 10_000 * SAT
    # the amount plus its routing-fee reserve fits the balance exactly (to the msat)
    assert amount + selectors.routing_fee_limit_msat(amount_msat=amount) <= 10_000 * SAT
    assert amount + 1 + selectors.routing_fee_limit_msat(amount_msat=amount + 1) > 10_000 * SAT


@pytest.mark.parametrize(
    ("status", "reason"),
    [("frozen", "this card is frozen"), ("inactive", "this card is not activated yet")],
)
def test_tap_of_a_card_that_cannot_pay_is_refused(status, reason):
    card = make_programmed_card(status=status)
    fund_card(card, 10_000 * SAT)
    response = tap(card, 1)
    assert response.status_code == 400
    assert response.json() == {"status": "ERROR", "reason": reason}
    assert not WithdrawRequest.objects.exists()
    assert TapLog.objects.get(card=card).outcome == TapLog.Outcome.REJECTED


def test_canceled_card_is_refused():
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    params = tap_params(card, 1)
    from cards.services.cards import card_cancel

    card_cancel(card=card)
    response = APIClient().get(reverse("cards:tap"), params)
    assert response.status_code == 400
    assert response.json() == {"status": "ERROR", "reason": "this card is not recognised"}
    assert not WithdrawRequest.objects.exists()


def test_replayed_url_and_wrong_cmac_are_refused():
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    params = tap_params(card, 5)
    assert APIClient().get(reverse("cards:tap"), params).status_code == 200
    # the same URL again
    replay = APIClient().get(reverse("cards:tap"), params)
    assert replay.status_code == 400
    assert "already used" in replay.json()["reason"]
    # an older counter
    assert "already used" in tap(card, 4).json()["reason"]
    # a tampered CMAC
    forged = dict(tap_params(card, 6))
    forged["c"] = ("0" if forged["c"][0] != "0" else "1") + forged["c"][1:]
    bad = APIClient().get(reverse("cards:tap"), forged)
    assert bad.status_code == 400
    assert bad.json() == {"status": "ERROR", "reason": "this card's signature is not valid"}
    card.refresh_from_db()
    assert card.last_counter == 5
    assert WithdrawRequest.objects.count() == 1


def test_garbage_tap_is_a_clear_400():
    response = APIClient().get(reverse("cards:tap"), {"p": "zz", "c": "1"})
    assert response.status_code == 400
    assert response.json() == {"status": "ERROR", "reason": "this card's link is malformed"}


def test_empty_card_is_refused_at_tap():
    card = make_programmed_card()
    response = tap(card, 1)
    assert response.status_code == 400
    assert response.json()["reason"] == "this card's balance is too low"


def test_rate_limit_per_card_and_per_ip(settings):
    settings.CARD_RATE_LIMIT_PER_CARD = 3
    settings.CARD_RATE_LIMIT_PER_IP = 5
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    # per card: the 4th tap in a minute is refused, whatever the address
    codes = [tap(card, n, ip=f"192.0.2.{n}").status_code for n in range(1, 5)]
    assert codes == [200, 200, 200, 429]
    assert TapLog.objects.filter(card=card, outcome="rejected").get().reason.startswith("too many taps of this card")
    # per address: 5 taps a minute from one address (and, separately, 5 callbacks)
    other = make_programmed_card(uid="04A39493CC8681")
    fund_card(other, 10_000 * SAT)
    third = make_programmed_card(uid="04A39493CC8682")
    fund_card(third, 10_000 * SAT)
    assert [tap(other, n, ip="192.0.2.99").status_code for n in (1, 2, 3)] == [200, 200, 200]
    assert [tap(third, n, ip="192.0.2.99").status_code for n in (1, 2)] == [200, 200]
    refused = tap(third, 3, ip="192.0.2.99")
    assert refused.status_code == 429
    assert refused.json() == {"status": "ERROR", "reason": "too many taps from this address, try again in a minute"}
    assert 1 <= int(refused["Retry-After"]) <= 60  # when the minute's window ends
    assert [callback("00" * 32, "lnbcrt1x", ip="192.0.2.99").status_code for _ in range(6)] == [400] * 5 + [429]
    # a refused tap used no counter: the same chip tap works from elsewhere
    assert tap(third, 3, ip="192.0.2.100").status_code == 200


# --- callbacks against the devnode --------------------------------------------------------


def test_internal_merchant_payment_settles_in_the_ledger_without_the_node(flashpay_node):
    # given: a FlashPay invoice (minted by our node) and a funded card
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    invoice = lightning_invoice_create(backend=flashpay_node, amount_msat=2_500 * SAT, memo="coffee")
    k1 = tap(card, 1).json()["k1"]
    node_before = flashpay_node.balance().local_msat
    # when
    response = callback(k1, invoice.bolt11)
    # then
    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "OK"}
    assert balance(card).posted.value == 7_500 * SAT
    assert balance(card).available.value == 7_500 * SAT
    assert node_posted() == 2_500 * SAT
    invoice.refresh_from_db()
    assert invoice.status == LightningInvoice.Status.SETTLED
    assert invoice.settled_internally and invoice.amount_received_msat == 2_500 * SAT
    events = Event.objects.filter(type="lightning.invoice.settled", aggregate_id=invoice.payment_hash)
    assert events.count() == 1 and events.get().payload["internal"] is True
    payment = CardPayment.objects.get()
    assert (payment.kind, payment.status, payment.fee_msat) == ("internal", "succeeded", 0)
    # the node was not involved: its invoice is still open and its balance unchanged
    assert flashpay_node.lookup_invoice(invoice.payment_hash).state == InvoiceState.OPEN
    assert flashpay_node.balance().local_msat == node_before


def test_a_later_node_payment_of_an_internally_paid_invoice_credits_nothing(flashpay_node, lnd_network, lnd_external):
    from lightning.services import lightning_sync_settled


    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    invoice = lightning_invoice_create(backend=flashpay_node, amount_msat=1_000 * SAT)
    assert callback(tap(card, 1).json()["k1"], invoice.bolt11).json() == {"status": "OK"}
    # when: someone also pays it on the node, and the watcher records the node's settlement
    assert lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=10).status == "success"
    stop = threading.Event()
    recorded = []
    thread = threading.Thread(
        target=lambda: recorded.append(lightning_sync_settled(backend=flashpay_node, stop_event=stop))
    )
    thread.start()
    thread.join(timeout=2)
    stop.set()
    thread.join(timeout=10)
    # then: still one settled event, nothing recorded twice
    assert Event.objects.filter(type="lightning.invoice.settled", aggregate_id=invoice.payment_hash).count() == 1
    assert recorded == [0]
    assert node_posted() == 1_000 * SAT


def test_external_payment_goes_through_the_node_and_charges_the_real_fee(flashpay_node, lnd_external, lnd_network):
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    external = lnd_external.create_invoice(amount_msat=3_000 * SAT, memo="shop elsewhere")
    response = callback(tap(card, 1).json()["k1"], external.bolt11)
    assert response.json() == {"status": "OK"}
    fee = lnd_network.fee_for(3_000 * SAT)
    assert lnd_external.lookup_invoice(external.payment_hash).state == InvoiceState.SETTLED
    assert balance(card).posted.value == 10_000 * SAT - 3_000 * SAT - fee
    assert balance(card).pending_debit.value == 0
    payment = CardPayment.objects.get()
    assert (payment.kind, payment.status, payment.fee_msat) == ("external", "succeeded", fee)
    assert node_posted() == 3_000 * SAT + fee


def test_failed_external_payment_releases_the_reservation(flashpay_node, lnd_external, lnd_network):
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    external = lnd_external.create_invoice(amount_msat=3_000 * SAT)
    lnd_network.inject(payment_hash=external.payment_hash, fail=True)
    response = callback(tap(card, 1).json()["k1"], external.bolt11)
    assert response.status_code == 400
    assert response.json()["status"] == "ERROR"
    assert response.json()["reason"].startswith("the payment failed")
    assert balance(card).posted.value == 10_000 * SAT
    assert balance(card).available.value == 10_000 * SAT
    assert CardPayment.objects.get().status == "failed"
    assert node_posted() == 0


def test_unknown_outcome_stays_pending_until_reconciled(flashpay_node, lnd_external, lnd_network, settings):
    from cards.services.payments import card_payments_reconcile

    settings.CARD_PAYMENT_TIMEOUT = 1
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    external = lnd_external.create_invoice(amount_msat=2_000 * SAT)
    lnd_network.inject(payment_hash=external.payment_hash, delay=3)
    response = callback(tap(card, 1).json()["k1"], external.bolt11)
    assert response.json() == {"status": "OK"}
    payment = CardPayment.objects.get()
    assert payment.status == "pending"
    reserved = 2_000 * SAT + payment.fee_limit_msat
    assert balance(card).available.value == 10_000 * SAT - reserved
    assert balance(card).posted.value == 10_000 * SAT
    # the node finishes later; the reconciler sees it
    time.sleep(3.5)
    assert card_payments_reconcile(backend=flashpay_node, older_than_seconds=0) == 1
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    fee = lnd_network.fee_for(2_000 * SAT)
    assert balance(card).posted.value == 10_000 * SAT - 2_000 * SAT - fee
    assert balance(card).pending_debit.value == 0
    # running it again changes nothing
    assert card_payments_reconcile(backend=flashpay_node, older_than_seconds=0) == 0


def _refused(response, fragment):
    assert response.status_code in (400, 429), response.content
    body = response.json()
    assert body["status"] == "ERROR"
    assert fragment in body["reason"], body["reason"]


def _nothing_moved(card, funded):
    assert balance(card).posted.value == funded
    assert balance(card).available.value == funded
    assert not CardPayment.objects.exists()
    assert Transaction.objects.filter(metadata__type="card_payment").count() == 0


def test_callback_refusals_change_no_balance(flashpay_node, lnd_external, settings):
    card = make_programmed_card(per_transaction_limit_msat=5_000 * SAT, daily_limit_msat=8_000 * SAT)
    fund_card(card, 20_000 * SAT)
    ok_invoice = lightning_invoice_create(backend=flashpay_node, amount_msat=1_000 * SAT)
    k1 = tap(card, 1).json()["k1"]
    # unknown k1
    _refused(callback("00" * 32, ok_invoice.bolt11), "unknown payment request")
    # garbage invoice
    _refused(callback(k1, "lnbcrt1garbage"), "invalid BOLT11")
    # an invoice for another network (mainnet invoice from the BOLT #11 examples)
    mainnet = signed_invoice(currency="bc", amount_msat=1_000 * SAT)
    _refused(callback(k1, mainnet), "mainnet")
    # no amount
    no_amount = lightning_invoice_create(backend=flashpay_node, amount_msat=None)
    _refused(callback(k1, no_amount.bolt11), "no amount")
    # over the per-payment limit
    big = lightning_invoice_create(backend=flashpay_node, amount_msat=6_000 * SAT)
    _refused(callback(k1, big.bolt11), "per-payment limit")
    # expired invoice
    expired = lnd_external.create_invoice(amount_msat=1_000 * SAT, expiry=1)
    time.sleep(1.2)
    _refused(callback(k1, expired.bolt11), "expired")
    _nothing_moved(card, 20_000 * SAT)
    # the k1 is still good after refusals of bad invoices: pay 4 000 sat
    first = lightning_invoice_create(backend=flashpay_node, amount_msat=4_000 * SAT)
    assert callback(k1, first.bolt11).json() == {"status": "OK"}
    # a reused k1
    _refused(callback(k1, ok_invoice.bolt11), "already used")
    # the daily cap includes the current payment: 4 000 spent, 5 000 more would be 9 000 > 8 000
    k1b = tap(card, 2).json()["k1"]
    five = lightning_invoice_create(backend=flashpay_node, amount_msat=5_000 * SAT)
    _refused(callback(k1b, five.bolt11), "daily limit")
    # an invoice already paid by a card
    _refused(callback(k1b, first.bolt11), "invoice")
    assert balance(card).posted.value == 16_000 * SAT
    # exactly up to the cap is fine
    four = lightning_invoice_create(backend=flashpay_node, amount_msat=4_000 * SAT)
    assert callback(k1b, four.bolt11).json() == {"status": "OK"}
    assert balance(card).posted.value == 12_000 * SAT
    # and now the tap itself says the daily limit is reached
    assert tap(card, 3).json()["reason"] == "this card's daily limit is reached"


def test_expired_k1_is_refused(flashpay_node, settings):
    settings.CARD_K1_TTL_SECONDS = 1
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    invoice = lightning_invoice_create(backend=flashpay_node, amount_msat=1_000 * SAT)
    k1 = tap(card, 1).json()["k1"]
    time.sleep(1.1)
    _refused(callback(k1, invoice.bolt11), "expired")
    _nothing_moved(card, 10_000 * SAT)


def test_card_frozen_between_tap_and_callback_is_refused(flashpay_node):
    from cards.services.cards import card_freeze

    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    invoice = lightning_invoice_create(backend=flashpay_node, amount_msat=1_000 * SAT)
    k1 = tap(card, 1).json()["k1"]
    card_freeze(card=card)
    _refused(callback(k1, invoice.bolt11), "frozen")
    _nothing_moved(card, 10_000 * SAT)


def test_callback_url_is_on_the_configured_host(settings):
    settings.FLASHPAY_BASE_URL = "https://cards.example.org"
    card = make_programmed_card()
    fund_card(card, 1_000 * SAT)
    assert urlsplit(tap(card, 1).json()["callback"]).netloc == "cards.example.org"


def test_our_invoice_in_another_spelling_is_still_paid_internally(flashpay_node):
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    invoice = lightning_invoice_create(backend=flashpay_node, amount_msat=1_000 * SAT)
    response = callback(tap(card, 1).json()["k1"], "lightning:" + invoice.bolt11.upper())
    assert response.json() == {"status": "OK"}
    assert CardPayment.objects.get().kind == "internal"
    assert balance(card).posted.value == 9_000 * SAT


def test_an_altered_copy_of_our_invoice_is_refused(flashpay_node):
    # given: our node's 1 000 sat invoice re-encoded for 1 sat under the old signature
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    invoice = lightning_invoice_create(backend=flashpay_node, amount_msat=1_000 * SAT)
    original = bolt11.decode(invoice.bolt11)
    original.amount_msat = bolt11.MilliSatoshi(1_000)
    forged = bolt11.encode(original)
    assert forged != invoice.bolt11
    # when / then
    _refused(callback(tap(card, 1).json()["k1"], forged), "altered")
    _nothing_moved(card, 10_000 * SAT)
    invoice.refresh_from_db()
    assert invoice.status == LightningInvoice.Status.OPEN


def test_finished_payments_are_announced_once_in_the_outbox(flashpay_node, lnd_external, lnd_network):
    from cards.services.payments import card_payment_settle
    from lightning.backends.base import PaymentResult

    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    internal = lightning_invoice_create(backend=flashpay_node, amount_msat=1_000 * SAT)
    assert callback(tap(card, 1).json()["k1"], internal.bolt11).json() == {"status": "OK"}
    failing = lnd_external.create_invoice(amount_msat=1_000 * SAT)
    lnd_network.inject(payment_hash=failing.payment_hash, fail=True)
    assert callback(tap(card, 2).json()["k1"], failing.bolt11).status_code == 400
    succeeded = Event.objects.get(type="CardPaymentSucceeded")
    assert succeeded.payload["amount_msat"] == 1_000 * SAT and succeeded.payload["kind"] == "internal"
    assert succeeded.payload["cardId"] == card.public_id
    failed = Event.objects.get(type="CardPaymentFailed")
    assert failed.payload["payment_hash"] == failing.payment_hash
    # settling a finished payment again (a reconciler racing the callback) announces nothing more
    payment = CardPayment.objects.get(payment_hash=failing.payment_hash)
    card_payment_settle(payment=payment, result=PaymentResult(status="success", payment_hash=failing.payment_hash))
    assert Event.objects.filter(type__startswith="CardPayment").count() == 2
    payment.refresh_from_db()
    assert payment.status == "failed"


def test_two_cards_racing_for_one_external_invoice_pay_it_once(flashpay_node, lnd_external, settings):
    settings.CARD_RATE_LIMIT_PER_IP = 0
    cards = [make_programmed_card(uid=f"04A39493CC868{i}") for i in range(4)]
    for card in cards:
        fund_card(card, 10_000 * SAT)
    k1s = [tap(card, 1).json()["k1"] for card in cards]
    invoice = lnd_external.create_invoice(amount_msat=1_000 * SAT)

    def pay(k1):
        response = callback(k1, invoice.bolt11)
        return response.status_code, response.json()

    results = run_together(*[partial(pay, k1) for k1 in k1s], timeout=60).values()
    assert sorted(code for code, _ in results) == [200, 400, 400, 400]
    assert all("already paid" in body["reason"] for code, body in results if code == 400)
    spent = [10_000 * SAT - balance(card).posted.value for card in cards]
    assert sorted(s > 0 for s in spent) == [False, False, False, True]
    assert all(balance(card).pending_debit.value == 0 for card in cards)


def test_absurdly_long_pr_is_refused_without_decoding():
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    _refused(callback(tap(card, 1).json()["k1"], "lnbcrt" + "q" * 10_000), "too long")
