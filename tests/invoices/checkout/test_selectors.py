"""The JSON the hosted checkout page reads (invoice_checkout_data)."""
import pytest

from invoices.checkout.selectors import invoice_checkout_data
from invoices.services.payments import invoice_payment_onchain_record
from tests.invoices.factories import make_invoice

pytestmark = pytest.mark.django_db


def test_checkout_data_has_the_unified_qr_and_amounts(shop):
    store, _ = shop
    invoice = make_invoice(
        store=store, amount="10", metadata={"orderId": "A 1", "itemDesc": "Mug"},
        checkout={"redirectURL": "https://shop.example/done?o={OrderId}&i={InvoiceId}", "defaultLanguage": "es"},
    )
    chain = invoice.prompts.get(payment_method_id="BTC-CHAIN")
    ln = invoice.prompts.get(payment_method_id="BTC-LN")

    data = invoice_checkout_data(invoice_id=invoice.pk)

    assert data["unifiedLink"] == f"bitcoin:{chain.address}?amount=0.00020000&lightning={ln.destination}"
    assert data["unifiedQr"] == f"BITCOIN:{chain.address.upper()}?amount=0.00020000&lightning={ln.destination.upper()}"
    assert (data["amount"], data["currency"], data["dueBtc"], data["rate"]) == ("10.00", "USD", "0.00020000", "50000")
    assert data["redirectURL"] == f"https://shop.example/done?o=A%201&i={invoice.pk}"
    assert (data["defaultLanguage"], data["itemDesc"], data["storeName"]) == ("es", "Mug", store.name)
    assert data["status"] == "New" and data["isPaid"] is False
    assert all(m["additionalData"].get("accountDerivation") is None for m in data["paymentMethods"])


def test_checkout_data_after_a_partial_payment_asks_for_the_rest(shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    address = invoice.prompts.get(payment_method_id="BTC-CHAIN").address
    invoice_payment_onchain_record(address=address, txid="ef" * 32, vout=1, amount_msat=15_000_000, chain_status="seen", block_height=None)

    data = invoice_checkout_data(invoice_id=invoice.pk)

    assert (data["status"], data["additionalStatus"], data["dueMsat"]) == ("New", "PaidPartial", 5_000_000)
    # the BOLT11 still asks for the full amount, so it is left out of the QR for the rest
    assert data["unifiedLink"] == f"bitcoin:{address}?amount=0.00005000"
