"""Operator admin: payment setup through the service (validated, secrets hidden), invoices read-only, marking action."""
import pytest
from django.urls import reverse

from invoices.models import Invoice, StorePaymentMethod
from tests.factories import StoreFactory, UserFactory
from tests.invoices.conftest import vpub
from tests.invoices.factories import make_invoice

pytestmark = pytest.mark.django_db

MACAROON = "0201036c6e6402f801030a10"


@pytest.fixture
def operator_client(client):
    operator = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(operator)
    return client


def test_add_onchain_wallet_and_own_node_in_the_admin(operator_client, settings):
    settings.BITCOIN_NETWORK = "regtest"
    store = StoreFactory()
    url = reverse("admin:invoices_storepaymentmethod_add")
    response = operator_client.post(url, {"store": store.pk, "payment_method_id": "BTC-CHAIN", "enabled": "on", "config": vpub()})
    assert response.status_code == 302, response.content.decode()[:2000]
    chain = StorePaymentMethod.objects.get(payment_method_id="BTC-CHAIN")
    assert chain.onchain_descriptor.descriptor.startswith("wpkh(")

    own = f"type=lnd-grpc;server=node.example.com:10009;macaroon={MACAROON}"
    response = operator_client.post(url, {"store": store.pk, "payment_method_id": "BTC-LN", "enabled": "on", "config": own})
    assert response.status_code == 302
    page = operator_client.get(reverse("admin:invoices_storepaymentmethod_changelist")).content.decode()
    assert "type=lnd-grpc;server=node.example.com:10009" in page
    assert MACAROON not in page


def test_invalid_config_is_shown_and_nothing_saved(operator_client, settings):
    settings.BITCOIN_NETWORK = "regtest"
    store = StoreFactory()
    url = reverse("admin:invoices_storepaymentmethod_add")
    response = operator_client.post(url, {"store": store.pk, "payment_method_id": "BTC-CHAIN", "enabled": "on", "config": "xpub-nonsense"})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert StorePaymentMethod.objects.count() == 0


def test_invoices_are_listed_and_marked_through_the_service(operator_client, shop):
    store, _ = shop
    invoice = make_invoice(store=store, amount="10")
    changelist = reverse("admin:invoices_invoice_changelist")
    assert invoice.pk in operator_client.get(changelist).content.decode()
    assert operator_client.get(reverse("admin:invoices_invoice_change", args=[invoice.pk])).status_code == 200

    operator_client.post(changelist, {"action": "mark_invalid", "_selected_action": [invoice.pk]})

    invoice.refresh_from_db()
    assert (invoice.status, invoice.additional_status) == ("Invalid", "Marked")
    assert invoice.events.last().actor.startswith("admin:")
    assert Invoice.objects.count() == 1


def test_lnurl_options_in_the_admin(operator_client, settings):
    settings.BITCOIN_NETWORK = "regtest"
    store = StoreFactory()
    url = reverse("admin:invoices_storepaymentmethod_add")
    operator_client.post(url, {"store": store.pk, "payment_method_id": "BTC-LN", "enabled": "on", "config": "Internal Node"})
    bad = operator_client.post(url, {"store": store.pk, "payment_method_id": "BTC-LNURL", "enabled": "on", "config": "{not json"})
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()
    good = operator_client.post(url, {"store": store.pk, "payment_method_id": "BTC-LNURL", "enabled": "on", "config": '{"lud12Enabled": true}'})
    assert good.status_code == 302
    assert StorePaymentMethod.objects.get(payment_method_id="BTC-LNURL").lnurl_options["lud12Enabled"] is True
