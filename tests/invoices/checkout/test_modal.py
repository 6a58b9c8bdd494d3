"""BTCPay's modal checkout: /modal/btcpay.js on a shop's page opens the checkout in a frame and hears its status."""
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from lightning.services import lightning_invoices_reconcile
from tests.invoices.conftest import deliver
from tests.invoices.factories import make_invoice

WAIT = 20


def _first_tab(html: str) -> str:
    return re.search(r'role="tab" id="tab-([a-z]+)" aria-controls="[^"]+" aria-selected="true"', html).group(1)


@pytest.mark.django_db
def test_the_script_is_served_where_plugins_load_it(client):
    response = client.get("/modal/btcpay.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    script = response.content.decode()
    for name in ("showInvoice", "hideFrame", "onModalWillEnter", "onModalWillLeave", "onModalReceiveMessage", "setApiUrlPrefix"):
        assert f"{name}:" in script


@pytest.mark.django_db
def test_the_checkout_opens_on_the_method_in_the_path_in_any_spelling(client, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    assert _first_tab(client.get(f"/i/{invoice.pk}").content.decode()) == "unified"
    for spelling in ("BTC_LN", "BTC-LightningNetwork", "btc-ln"):
        assert _first_tab(client.get(f"/i/{invoice.pk}/{spelling}").content.decode()) == "ln"
    assert _first_tab(client.get(f"/i/{invoice.pk}?paymentMethodId=BTC_CHAIN").content.decode()) == "chain"
    assert _first_tab(client.get(f"/i/{invoice.pk}/XMR").content.decode()) == "unified"  # unknown: the default, as BTCPay
    # BitPay's and BTCPay 1.x's /invoice?id=
    by_query = client.get(f"/invoice?id={invoice.pk}&view=modal")
    assert by_query.status_code == 200 and 'id="close"' in by_query.content.decode()
    assert client.get("/invoice?id=nope").status_code == 404
    assert 'id="close"' not in client.get(f"/i/{invoice.pk}").content.decode()


SHOP_PAGE = """<!doctype html><html><head><title>Shop</title>
<script src="{server}/modal/btcpay.js"></script></head><body><h1>Shop</h1>
<script>
  window.heard = []; window.entered = 0; window.left = 0;
  btcpay.onModalWillEnter(function () {{ window.entered += 1; }});
  btcpay.onModalWillLeave(function () {{ window.left += 1; }});
  btcpay.onModalReceiveMessage(function (event) {{ window.heard.push(event.data); }});
</script></body></html>"""


@pytest.fixture
def shop_site(live_server):
    """A shop's own site (another origin) whose page loads the modal script from FlashPay."""
    page = SHOP_PAGE.format(server=live_server.url).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/checkout"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.django_db(transaction=True)
def test_the_shop_page_shows_the_invoice_hears_it_settle_and_closes_it(
    browser, live_server, shop_site, shop, lnd_network, lnd_backend, lnd_external
):
    store, _ = shop
    invoice = make_invoice(store=store, amount="25")
    bolt11 = invoice.prompts.get(payment_method_id="BTC-LN").destination
    browser.get(shop_site)
    wait = WebDriverWait(browser, WAIT)
    browser.execute_script("btcpay.showInvoice(arguments[0], 'BTC_LN');", invoice.pk)

    # the frame shows once the checkout says it is loaded, over the whole window
    frame = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "iframe[name=btcpay]"))
    wait.until(lambda d: frame.value_of_css_property("display") == "block")
    assert browser.execute_script("return window.heard;") == ["loaded"]
    assert browser.execute_script("return window.entered;") == 1
    assert frame.get_attribute("src").endswith(f"/i/{invoice.pk}/BTC_LN?view=modal")
    assert frame.size["width"] >= 1000

    browser.switch_to.frame(frame)
    assert browser.find_element(By.ID, "tab-ln").get_attribute("aria-selected") == "true"
    browser.switch_to.default_content()

    # the buyer pays over Lightning: the shop's page hears the new status, as BTCPay sends it
    assert lnd_external.pay(bolt11, fee_limit_msat=1000, timeout=5).status == "success"
    lightning_invoices_reconcile(backend=lnd_backend, node_pubkey=lnd_network.nodes["flashpay"].pubkey)
    deliver()
    wait.until(lambda d: {"invoiceId": invoice.pk, "status": "Settled"} in d.execute_script("return window.heard;"))
    statuses = [m for m in browser.execute_script("return window.heard;") if isinstance(m, dict)]
    assert all(m["invoiceId"] == invoice.pk for m in statuses)
    # the modal does not navigate the frame away: the shop's page decides where to go
    browser.switch_to.frame(frame)
    assert browser.execute_script("return location.pathname;") == f"/i/{invoice.pk}/BTC_LN"

    # the buyer closes the checkout
    browser.find_element(By.ID, "close").click()
    browser.switch_to.default_content()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "iframe[name=btcpay]"))
    assert browser.execute_script("return window.heard;")[-1] == "close"
    assert browser.execute_script("return window.left;") == 1
