"""The hosted checkout in real headless Chromium: pay through the devnodes and watch the page change without reload."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from invoices.models import Invoice
from invoices.onchain.services import onchain_sync_once
from invoices.services.invoices import invoices_expire
from lightning.services import lightning_invoices_reconcile
from tests.invoices.checkout.conftest import set_accept_language, set_viewport
from tests.invoices.conftest import deliver
from tests.invoices.factories import make_invoice

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 20  # seconds; the page polls every 2 s
# elements go stale while the page navigates or swaps its panel: look again
PATIENT = (NoSuchElementException, StaleElementReferenceException)


def _until(browser, condition, message: str = "", timeout: float = WAIT):
    return WebDriverWait(browser, timeout, ignored_exceptions=PATIENT).until(condition, message=message)


def _open(browser, live_server, invoice_id: str, query: str = "") -> None:
    browser.get(f"{live_server.url}/i/{invoice_id}{query}")
    _until(browser, lambda d: d.execute_script("return document.readyState") == "complete")
    # a marker that a reload would wipe out: the page must change in place
    browser.execute_script("window.__notReloaded = true;")


def _status(browser) -> str:
    return browser.find_element(By.ID, "status").text


def _wait_status(browser, text: str) -> None:
    _until(browser, lambda d: _status(d) == text, message=f"status never became {text!r}")


def _not_reloaded(browser) -> bool:
    return browser.execute_script("return window.__notReloaded === true;")


def test_lightning_payment_turns_the_page_paid_without_reload(browser, live_server, shop, lnd_network, lnd_backend, lnd_external):
    store, _ = shop
    store.display_expiration_timer = 20 * 60  # show the countdown for the whole 15 minutes
    store.save(update_fields=["display_expiration_timer"])
    invoice = make_invoice(store=store, amount="25", metadata={"itemDesc": "Blue Mountain coffee"})
    bolt11 = invoice.prompts.get(payment_method_id="BTC-LN").destination
    _open(browser, live_server, invoice.pk)

    # the page shows the unified QR, the amounts, a running countdown and the copy buttons
    status = browser.find_element(By.ID, "status")
    assert status.get_attribute("aria-live") == "polite" and status.text == "Awaiting payment"
    qr = browser.find_element(By.CSS_SELECTOR, "#pane-unified svg.qr")
    assert qr.is_displayed() and qr.size["width"] >= 200
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "25.00 USD" in text and "0.00050000 BTC" in text and "50,000 sats" in text
    _until(browser, lambda d: d.find_element(By.ID, "countdown").text.count(":") == 1)
    assert browser.find_element(By.ID, "countdown").text.startswith(("14:", "15:"))
    copies = [b for b in browser.find_elements(By.CSS_SELECTOR, "#pane-unified button.copy")]
    assert [b.text for b in copies] == ["Copy payment link", "Copy amount"]
    browser.save_screenshot("/tmp/checkout-new.png")

    # when the buyer's wallet pays the BOLT11 and the watcher records the settlement
    assert lnd_external.pay(bolt11, fee_limit_msat=1000, timeout=5).status == "success"
    lightning_invoices_reconcile(backend=lnd_backend, node_pubkey=lnd_network.nodes["flashpay"].pubkey)
    deliver()  # the worker's part: the settled Lightning invoice reaches the invoices app

    # then the page says so by itself
    _wait_status(browser, "Invoice paid")
    assert _not_reloaded(browser)
    assert "Thank you! Your payment is complete." in browser.find_element(By.ID, "screen").text
    assert not browser.find_elements(By.CSS_SELECTOR, "svg.qr")
    browser.save_screenshot("/tmp/checkout-settled.png")


def test_onchain_partial_then_paid_then_settled_at_360px(browser, live_server, shop, bitcoind_client, bitcoind_miner):
    store, _ = shop
    onchain_sync_once(client=bitcoind_client)
    invoice = make_invoice(store=store, amount="10", checkout={"speedPolicy": "MediumSpeed"})
    address = invoice.prompts.get(payment_method_id="BTC-CHAIN").address
    set_viewport(browser, width=360)
    _open(browser, live_server, invoice.pk)
    _assert_no_horizontal_scroll(browser)

    # the on-chain tab shows the address alone; arrow keys move between tabs
    browser.find_element(By.ID, "tab-unified").send_keys(Keys.ARROW_RIGHT)
    assert browser.find_element(By.ID, "tab-chain").get_attribute("aria-selected") == "true"
    assert browser.find_element(By.ID, "pane-chain").is_displayed()
    assert not browser.find_element(By.ID, "pane-unified").is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, "#pane-chain button.copy").get_attribute("data-copy") == address
    # its QR code loads as an image once the tab is shown
    qr = browser.find_element(By.CSS_SELECTOR, "#pane-chain img.qr")
    WebDriverWait(browser, 10).until(lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", qr))
    assert qr.is_displayed() and qr.size["width"] > 100

    # when half arrives
    bitcoind_miner.send_to_address(address, Decimal("0.0001"))
    onchain_sync_once(client=bitcoind_client)
    deliver()
    _wait_status(browser, "Partially paid")
    text = browser.find_element(By.ID, "screen").text
    assert "0.00010000 BTC" in text and "10,000 sats" in text and "5.00 USD" in text
    # only an on-chain QR is left, for the rest
    assert [t.get_attribute("id") for t in browser.find_elements(By.CSS_SELECTOR, '[role="tab"]')] == ["tab-chain"]
    link = browser.find_element(By.CSS_SELECTOR, "#pane-chain a.button").get_attribute("href")
    assert link == f"bitcoin:{address}?amount=0.00010000"
    _assert_no_horizontal_scroll(browser)
    browser.save_screenshot("/tmp/checkout-partial-360.png")

    # when the rest arrives unconfirmed, then a block confirms it
    bitcoind_miner.send_to_address(address, Decimal("0.0001"))
    onchain_sync_once(client=bitcoind_client)
    deliver()
    _wait_status(browser, "Payment received")
    bitcoind_miner.generate_to_address(1, bitcoind_miner.get_new_address())
    onchain_sync_once(client=bitcoind_client)
    deliver()
    _wait_status(browser, "Invoice paid")
    assert _not_reloaded(browser)
    _assert_no_horizontal_scroll(browser)


def test_redirects_to_the_merchant_after_payment(browser, live_server, shop, lnd_network, lnd_backend, lnd_external):
    store, _ = shop
    # the merchant's "thank you" page is our own receipt here, so the browser can land somewhere real
    invoice = make_invoice(
        store=store, amount="0.0001", currency="BTC", metadata={"orderId": "ord-42"},
        checkout={"redirectURL": f"{live_server.url}/i/{{InvoiceId}}/receipt?order={{OrderId}}", "redirectAutomatically": True},
    )
    _open(browser, live_server, invoice.pk)
    bolt11 = invoice.prompts.get(payment_method_id="BTC-LN").destination
    assert lnd_external.pay(bolt11, fee_limit_msat=1000, timeout=5).status == "success"
    lightning_invoices_reconcile(backend=lnd_backend, node_pubkey=lnd_network.nodes["flashpay"].pubkey)
    deliver()  # the worker's part: the settled Lightning invoice reaches the invoices app

    _until(browser, lambda d: "/receipt" in d.current_url, message="no redirect")
    assert browser.current_url == f"{live_server.url}/i/{invoice.pk}/receipt?order=ord-42"
    body = browser.find_element(By.TAG_NAME, "main").text
    assert "Invoice paid" in body and "ord-42" in body and "0.00010000 BTC" in body
    browser.save_screenshot("/tmp/checkout-receipt.png")


def test_expiry_shows_the_expired_screen_without_reload(browser, live_server, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    _open(browser, live_server, invoice.pk)
    _wait_status(browser, "Awaiting payment")

    invoices_expire(now=timezone.now() + timedelta(hours=1))

    _wait_status(browser, "Invoice expired")
    assert _not_reloaded(browser)
    assert "ask the store for a new invoice" in browser.find_element(By.ID, "screen").text
    assert not browser.find_elements(By.CSS_SELECTOR, "svg.qr")


def test_french_from_the_browser_and_spanish_from_the_selector(browser, live_server, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    set_accept_language(browser, "fr-FR,fr;q=0.9")
    set_viewport(browser, width=360)
    _open(browser, live_server, invoice.pk)
    _assert_no_horizontal_scroll(browser)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    assert _status(browser) == "En attente du paiement"
    assert browser.find_element(By.ID, "tab-chain").text == "On-chain"
    assert "Copier le lien de paiement" in browser.find_element(By.ID, "pane-unified").text

    # choosing Español in the labelled selector switches the page
    select = browser.find_element(By.ID, "lang-select")
    assert browser.find_element(By.CSS_SELECTOR, 'label[for="lang-select"]').text == "Langue"
    Select(select).select_by_value("es")
    # choosing alone changes nothing (no surprise on input, WCAG 3.2.2); the labelled button applies it
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    browser.find_element(By.CSS_SELECTOR, "form.lang button").click()
    _until(browser, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es")
    assert _status(browser) == "Esperando el pago"
    assert "Copiar el enlace de pago" in browser.find_element(By.ID, "pane-unified").text
    _assert_no_horizontal_scroll(browser)
    browser.save_screenshot("/tmp/checkout-es-360.png")
    # the live panel keeps the chosen language when it refreshes
    invoices_expire(now=timezone.now() + timedelta(hours=1))
    _wait_status(browser, "Factura caducada")


def test_unknown_invoice_page(browser, live_server, db):
    browser.get(f"{live_server.url}/i/nope")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Invoice not found"


def _assert_no_horizontal_scroll(browser) -> None:
    widths = browser.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth, window.innerWidth];"
    )
    assert widths[0] <= widths[1], f"horizontal scroll at {widths[2]} px: content {widths[0]} px wide"


CONTRAST_JS = """
function lum(rgb) {
  var c = rgb.match(/[\\d.]+/g).slice(0, 3).map(function (v) {
    v = v / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
function background(el) {
  for (; el; el = el.parentElement) {
    var bg = getComputedStyle(el).backgroundColor;
    var parts = bg.match(/[\\d.]+/g);
    if (parts && (parts.length < 4 || parseFloat(parts[3]) > 0)) { return bg; }
  }
  return "rgb(255, 255, 255)";
}
var out = [];
document.querySelectorAll(arguments[0]).forEach(function (el) {
  if (!el.offsetParent) { return; }
  var a = lum(getComputedStyle(el).color), b = lum(background(el));
  out.push([el.tagName + "." + el.className + " " + el.textContent.trim().slice(0, 20),
            (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]);
});
return out;
"""


def test_accessible_controls_contrast_focus_and_copy(browser, live_server, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10", metadata={"itemDesc": "Mug", "orderId": "A-1"})
    set_viewport(browser, width=360)
    _open(browser, live_server, invoice.pk)

    # the store's default displayExpirationTimer (5 min) keeps the countdown out of a 15-minute invoice's start
    assert not browser.find_element(By.ID, "countdown").is_displayed()
    # every button and link has an accessible name; the QR link names what it encodes
    for element in browser.find_elements(By.CSS_SELECTOR, "button, a"):
        name = element.get_attribute("aria-label") or element.text
        if element.is_displayed():
            assert name.strip(), element.get_attribute("outerHTML")[:120]
    assert browser.find_element(By.CSS_SELECTOR, "#pane-unified a.qr-link").get_attribute("aria-label") == (
        "QR code: bitcoin payment link with Lightning"
    )
    # text meets WCAG AA (4.5:1) against its real background
    ratios = browser.execute_script(
        CONTRAST_JS, "#status, h1, .item, .amount-main, .amount-sub, .timer, [role=tab], .button, .destination, .foot dt, .foot dd, .lang label, .powered"
    )
    assert len(ratios) >= 12
    low = [(what, round(ratio, 2)) for what, ratio in ratios if ratio < 4.5]
    assert not low, low
    # keyboard focus is visible
    copy = browser.find_element(By.CSS_SELECTOR, "#pane-unified button.copy")
    browser.execute_script("arguments[0].focus();", copy)
    copy.send_keys(Keys.SHIFT)  # a key press makes :focus-visible apply as for a keyboard user
    outline = browser.execute_script("var s = getComputedStyle(arguments[0]); return [s.outlineStyle, s.outlineWidth];", copy)
    assert outline[0] == "solid" and float(outline[1].rstrip("px")) >= 2
    # the copy button copies and says so, also to screen readers
    copy.click()
    _until(browser, lambda d: copy.text == "Copied")
    assert browser.find_element(By.ID, "copy-note").get_attribute("aria-live") == "polite"
    assert browser.find_element(By.ID, "copy-note").get_attribute("textContent") == "Copied"
    browser.save_screenshot("/tmp/checkout-new-360.png")


def test_time_up_hides_the_qr_before_the_server_expires_the_invoice(browser, live_server, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=timezone.now() + timedelta(seconds=4))
    _open(browser, live_server, invoice.pk)
    assert browser.find_element(By.CSS_SELECTOR, "#pane-unified svg.qr").is_displayed()
    assert browser.find_element(By.ID, "countdown").is_displayed()  # inside the last 5 minutes

    _wait_status(browser, "Invoice expired")
    assert browser.find_element(By.ID, "countdown").text == "Expired"
    assert not browser.find_element(By.CSS_SELECTOR, "#pane-unified").is_displayed()
    assert Invoice.objects.get(pk=invoice.pk).status == "New"  # the server's expiry has not run
