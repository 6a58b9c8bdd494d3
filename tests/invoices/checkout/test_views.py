"""The hosted checkout over HTTP (Django test client): screens, languages, headers, status JSON, receipt."""
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from invoices.models import Invoice
from invoices.services.invoices import invoices_expire
from invoices.services.payments import (
    invoice_payment_lightning_record,
    invoice_payment_onchain_record,
)
from tests.invoices.factories import make_invoice

pytestmark = pytest.mark.django_db


def _page(client, invoice_id, **headers):
    response = client.get(f"/i/{invoice_id}", **headers)
    assert response.status_code == 200, response.content[:500]
    return response, response.content.decode()


def _live_text(html: str) -> str:
    match = re.search(r'<p id="status"[^>]*aria-live="polite"[^>]*>([^<]*)</p>', html)
    assert match, "no aria-live status region"
    return match.group(1).strip()


def test_new_invoice_shows_unified_qr_amounts_and_copy_buttons(client, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10", metadata={"orderId": "A-1", "itemDesc": "Mug", "buyerEmail": "b@example.com", "secretNote": "hidden-x"})
    chain = invoice.prompts.get(payment_method_id="BTC-CHAIN")
    ln = invoice.prompts.get(payment_method_id="BTC-LN")

    response, html = _page(client, invoice.pk)

    assert _live_text(html) == "Awaiting payment"
    assert "10.00 USD" in html and "1 BTC = 50,000 USD" in html and "0.00020000</span> BTC" in html and "20,000</span> sats" in html
    # the unified BIP21 link with the BOLT11 (links lower-case; the QR encodes the upper-case form)
    assert f'href="bitcoin:{chain.address}?amount=0.00020000&amp;lightning={ln.destination}"' in html
    # the shown tab's QR is in the page; the hidden tabs' (on-chain only, Lightning only) load when opened
    assert html.count('<svg class="qr"') == 1
    assert re.findall(r'<img class="qr" src="([^"]+)"', html) == [f"/i/{invoice.pk}/qr/chain.svg", f"/i/{invoice.pk}/qr/ln.svg"]
    assert 'role="tablist"' in html and 'aria-selected="true"' in html
    assert "Copy payment link" in html and "Copy address" in html and "Copy Lightning invoice" in html
    assert "Mug" in html and "A-1" in html
    # only what BTCPay's checkout shows: no buyer e-mail nor other metadata
    assert "b@example.com" not in html and "hidden-x" not in html
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors *" in csp
    assert "X-Frame-Options" not in response
    assert response["Cache-Control"] == "no-store"
    assert "<script>" not in html and " style=" not in html  # nothing inline for the CSP to block
    assert "https://" not in re.sub(r'href="https://[^"]*"', "", html.split("<body>")[0])  # no CDN


def test_unknown_invoice_is_a_404_page_and_a_404_status(client, db):
    response = client.get("/i/NoSuchInvoice")
    assert response.status_code == 404
    assert "Invoice not found" in response.content.decode()
    status = client.get("/i/NoSuchInvoice/status")
    assert status.status_code == 404 and status.json()["code"] == "invoice-not-found"
    assert client.get("/i/NoSuchInvoice/receipt").status_code == 404


def test_pages_are_get_only(client, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    assert client.post(f"/i/{invoice.pk}").status_code == 405
    assert client.post(f"/i/{invoice.pk}/status").status_code == 405


def test_status_json_is_one_query_and_follows_a_lightning_payment(client, shop):
    store, _ = shop
    invoice = make_invoice(
        store=store, amount="0.0001", currency="BTC",
        checkout={"redirectURL": "https://shop.example/thanks/{OrderId}", "redirectAutomatically": True},
        metadata={"orderId": "o 7"},
    )
    with CaptureQueriesContext(connection) as queries:
        before = client.get(f"/i/{invoice.pk}/status")
    assert len(queries) == 1
    assert before["Cache-Control"] == "no-store"
    body = before.json()
    assert (body["status"], body["screen"], body["redirectURL"]) == ("New", "pay", None)

    ln = invoice.prompts.get(payment_method_id="BTC-LN")
    invoice_payment_lightning_record(payment_hash=ln.payment_hash, amount_received_msat=10_000_000)

    after = client.get(f"/i/{invoice.pk}/status").json()
    assert (after["status"], after["screen"]) == ("Settled", "settled")
    assert after["version"] != body["version"]
    assert after["redirectURL"] == "https://shop.example/thanks/o%207"
    _response, html = _page(client, invoice.pk)
    assert _live_text(html) == "Invoice paid"
    assert 'data-redirect="https://shop.example/thanks/o%207"' in html


def test_a_javascript_redirect_url_is_never_followed(client, shop):
    store, _ = shop
    invoice = make_invoice(
        store=store, amount="0.0001", currency="BTC",
        checkout={"redirectURL": "javascript:alert(1)", "redirectAutomatically": True},
    )
    ln = invoice.prompts.get(payment_method_id="BTC-LN")
    invoice_payment_lightning_record(payment_hash=ln.payment_hash, amount_received_msat=10_000_000)
    assert client.get(f"/i/{invoice.pk}/status").json()["redirectURL"] is None
    _response, html = _page(client, invoice.pk)
    assert "javascript:" not in html


def test_partial_payment_screen_asks_for_the_rest_on_chain_only(client, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    address = invoice.prompts.get(payment_method_id="BTC-CHAIN").address
    invoice_payment_onchain_record(address=address, txid="ab" * 32, vout=0, amount_msat=5_000_000, chain_status="seen", block_height=None)

    _response, html = _page(client, invoice.pk)

    assert _live_text(html) == "Partially paid"
    assert "Please send the rest" in html
    assert "0.00015000</span> BTC" in html and "15,000</span> sats" in html and "7.50 USD" in html
    assert f'href="bitcoin:{address}?amount=0.00015000"' in html
    assert "lightning=" not in html and "Copy Lightning invoice" not in html


def test_expired_screen(client, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    invoices_expire(now=timezone.now() + timedelta(hours=1))

    _response, html = _page(client, invoice.pk)

    assert _live_text(html) == "Invoice expired"
    assert "ask the store for a new invoice" in html
    assert '<svg class="qr"' not in html  # nothing left to pay to


def test_invalid_screen(client, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    Invoice.objects.filter(pk=invoice.pk).update(status="Invalid", additional_status="Marked")
    _response, html = _page(client, invoice.pk)
    assert _live_text(html) == "Invoice invalid"


@pytest.mark.parametrize(
    ("headers", "query", "checkout", "expected_lang", "expected_text"),
    [
        ({"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9,en;q=0.5"}, "", {}, "fr", "En attente du paiement"),
        ({"HTTP_ACCEPT_LANGUAGE": "es-MX,es;q=0.9"}, "", {}, "es", "Esperando el pago"),
        ({"HTTP_ACCEPT_LANGUAGE": "de-DE"}, "", {}, "en", "Awaiting payment"),
        ({"HTTP_ACCEPT_LANGUAGE": "fr"}, "?lang=es", {}, "es", "Esperando el pago"),
        ({"HTTP_ACCEPT_LANGUAGE": "en"}, "", {"defaultLanguage": "fr-FR"}, "fr", "En attente du paiement"),
        ({"HTTP_ACCEPT_LANGUAGE": "en"}, "?lang=en", {"defaultLanguage": "es"}, "en", "Awaiting payment"),
    ],
)
def test_language_by_selector_invoice_default_and_accept_language(client, shop, headers, query, checkout, expected_lang, expected_text):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10", checkout=checkout)
    response = client.get(f"/i/{invoice.pk}{query}", **headers)
    html = response.content.decode()
    assert response["Content-Language"] == expected_lang
    assert f'<html lang="{expected_lang}">' in html
    assert _live_text(html) == expected_text
    assert f'<option value="{expected_lang}" lang="{expected_lang}" selected>' in html
    assert '<label for="lang-select">' in html


def test_receipt_lists_payments_once_settled(client, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="0.0001", currency="BTC", metadata={"orderId": "R-9", "itemDesc": "Tea"})
    # before settlement the receipt sends the buyer back to the checkout
    early = client.get(f"/i/{invoice.pk}/receipt")
    assert early.status_code == 302 and early["Location"] == f"/i/{invoice.pk}"

    ln = invoice.prompts.get(payment_method_id="BTC-LN")
    invoice_payment_lightning_record(payment_hash=ln.payment_hash, amount_received_msat=10_000_000)

    response = client.get(f"/i/{invoice.pk}/receipt", HTTP_ACCEPT_LANGUAGE="es")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Pagada" in html or "pagada" in html
    assert "R-9" in html and "Tea" in html and ln.payment_hash in html and "0.00010000 BTC" in html
    assert response["X-Frame-Options"] == "DENY"
    # the checkout's settled screen links to it
    _response, page = _page(client, invoice.pk)
    assert f'href="/i/{invoice.pk}/receipt?lang=en"' in page


def test_receipt_turned_off_is_a_404(client, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="0.0001", currency="BTC", receipt={"enabled": False})
    ln = invoice.prompts.get(payment_method_id="BTC-LN")
    invoice_payment_lightning_record(payment_hash=ln.payment_hash, amount_received_msat=10_000_000)
    assert client.get(f"/i/{invoice.pk}/receipt").status_code == 404
    _response, page = _page(client, invoice.pk)
    assert "/receipt" not in page


def test_top_up_invoice_takes_any_amount(client, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount=None, currency="BTC")
    address = invoice.prompts.get(payment_method_id="BTC-CHAIN").address

    _response, html = _page(client, invoice.pk)

    assert "Any amount" in html
    assert f'href="bitcoin:{address}?lightning=' in html  # no amount= to pay
    assert "Copy amount" not in html


def test_panel_is_the_changing_part_in_the_chosen_language(client, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    status = client.get(f"/i/{invoice.pk}/status").json()
    response = client.get(f"/i/{invoice.pk}/panel?lang=fr")
    html = response.content.decode()
    assert response.status_code == 200 and response["Content-Language"] == "fr"
    assert html.startswith('<section id="screen"') and "<html" not in html
    assert f'data-version="{status["version"]}"' in html
    assert 'data-status-text="En attente du paiement"' in html
    assert client.get("/i/nope/panel").status_code == 404


@pytest.mark.parametrize(
    ("logo_url", "shown", "img_src"),
    [
        ("https://cdn.shop.example/logo.png", True, "img-src 'self' data: https://cdn.shop.example;"),
        ("http://shop.example/logo.png", False, "img-src 'self' data:;"),
        ("https://evil.example;script-src *", False, "img-src 'self' data:;"),
        ("/static/logo.png", True, "img-src 'self' data:;"),
    ],
)
def test_store_logo_only_over_https_and_allowed_by_csp(client, shop, logo_url, shown, img_src):
    store, _ = shop
    store.logo_url = logo_url
    store.save(update_fields=["logo_url"])
    invoice = make_invoice(store=store, amount="10")
    response, html = _page(client, invoice.pk)
    assert ('class="logo"' in html) is shown
    assert img_src in response["Content-Security-Policy"]
    assert "script-src 'self';" in response["Content-Security-Policy"]


def test_a_hidden_tab_qr_is_an_svg_image_of_what_the_tab_pays(client, shop):
    from flashpay.qr import qr_svg

    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    ln = invoice.prompts.get(payment_method_id="BTC-LN")

    response = client.get(f"/i/{invoice.pk}/qr/ln.svg")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml" and response["X-Content-Type-Options"] == "nosniff"
    assert response.content.decode() == qr_svg(f"LIGHTNING:{ln.destination}".upper())
    assert client.get(f"/i/{invoice.pk}/qr/unified.svg").status_code == 200
    assert client.get(f"/i/{invoice.pk}/qr/nope.svg").status_code == 404
    assert client.get("/i/no-such-invoice/qr/ln.svg").status_code == 404


def test_no_qr_image_once_there_is_nothing_left_to_pay(client, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    invoices_expire(now=timezone.now() + timedelta(hours=1))

    assert client.get(f"/i/{invoice.pk}/qr/chain.svg").status_code == 404
