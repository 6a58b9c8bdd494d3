"""Operator admin: payment setup through the service (validated, secrets hidden), invoices read-only, marking action."""
import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from invoices.models import Invoice, StorePaymentMethod
from tests.factories import StoreFactory, UserFactory
from tests.invoices.conftest import vpub
from tests.invoices.factories import make_invoice

pytestmark = pytest.mark.django_db

MACAROON = "0201036c6e6402f801030a10"


def _inline_row(page: str, row_id: str) -> dict[str, str]:
    """The read-only cells of one admin inline row, by field name."""
    row = page[page.index(f'id="{row_id}"'):]
    row = row[: row.index("</tr>")]
    return dict(re.findall(r'<td class="field-(\w+)">\s*<p>(.*?)</p>', row, flags=re.S))


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
    # given its BTC-LN BOLT11 was replaced by one for the rest of a partial payment, then canceled on its node
    replaced_at = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    canceled_at = datetime(2026, 3, 4, 5, 8, tzinfo=UTC)
    prompt = invoice.prompts.get(payment_method_id="BTC-LN")
    invoice.prompts.filter(pk=prompt.pk).update(amount_msat=15_000_000, superseded_at=replaced_at, node_canceled_at=canceled_at)
    # then the invoice's page lists, read-only, what it asked for and when it was replaced and canceled
    change = operator_client.get(reverse("admin:invoices_invoice_change", args=[invoice.pk]))
    assert change.status_code == 200
    page = change.content.decode()
    for column, label in (("amount_msat", "Amount msat"), ("superseded_at", "Superseded at"), ("node_canceled_at", "Node canceled at")):
        assert re.search(rf'<th class="column-{column}">{label}\s', page)
    shown = _inline_row(page, f"prompts-{list(invoice.prompts.values_list('pk', flat=True)).index(prompt.pk)}")
    assert shown["amount_msat"] == "15000000"
    assert shown["superseded_at"] == date_format(timezone.localtime(replaced_at), "DATETIME_FORMAT")
    assert shown["node_canceled_at"] == date_format(timezone.localtime(canceled_at), "DATETIME_FORMAT")
    chain = _inline_row(page, "prompts-0")
    assert (chain["payment_method_id"], chain["amount_msat"], chain["superseded_at"], chain["node_canceled_at"]) == ("Btc Chain", "-", "-", "-")
    assert not re.search(r'name="prompts-\d-(amount_msat|superseded_at|node_canceled_at)"', page)

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
