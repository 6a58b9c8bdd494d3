"""Greenfield store e-mail settings and send, and rule mail through the store's own SMTP server."""
from __future__ import annotations

import pytest

from flashpay.accounts import policies
from invoices.emails.models import EmailMessage, StoreEmailSettings
from invoices.emails.services import email_messages_send_due, email_rule_create
from tests.factories import StoreFactory, UserFactory, add_member, create_api_key, token_header
from tests.invoices.emails.conftest import SmtpServer, _free_port, deliver, invoice_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def store(owner):
    return StoreFactory(owner=owner, name="Montego Books")


@pytest.fixture
def auth(owner):
    return token_header(create_api_key(user=owner, permissions=[policies.CAN_MODIFY_STORE_SETTINGS])[1])


@pytest.fixture
def store_smtp():
    server = SmtpServer(_free_port())
    server.start()
    yield server
    server.stop()


def _put(api_client, store, auth, **body):
    body = {"from": "shop@montego.example", "server": "127.0.0.1", "port": 2525, **body}
    return api_client.put(f"/api/v1/stores/{store.pk}/email", body, format="json", **auth)


def test_settings_roundtrip_never_shows_the_password(api_client, store, auth):
    empty = api_client.get(f"/api/v1/stores/{store.pk}/email", **auth)
    assert empty.status_code == 200 and empty.json()["passwordSet"] is False
    response = _put(api_client, store, auth, login="shop", password="smtp-pass-123")
    assert response.status_code == 200, response.content
    expected = {
        "from": "shop@montego.example", "server": "127.0.0.1", "port": 2525, "login": "shop",
        "disableCertificateCheck": False, "passwordSet": True,
    }
    assert response.json() == expected
    got = api_client.get(f"/api/v1/stores/{store.pk}/email", **auth)
    assert got.json() == expected
    assert "smtp-pass-123" not in got.content.decode()
    assert b"smtp-pass-123" not in bytes(StoreEmailSettings.objects.get().password_sealed)
    # an empty password keeps the stored one
    _put(api_client, store, auth, login="shop", password="")
    assert api_client.get(f"/api/v1/stores/{store.pk}/email", **auth).json()["passwordSet"] is True


@pytest.mark.parametrize(
    "body,path",
    [({"from": "not-an-email"}, "from"), ({"port": 0}, "port"), ({"port": 70000}, "port"), ({"server": ""}, "server")],
)
def test_bad_settings_are_400_and_not_written(api_client, store, auth, body, path):
    response = _put(api_client, store, auth, **body)
    assert response.status_code == 400
    assert [e["path"] for e in response.json()] == [path]
    assert not StoreEmailSettings.objects.exists()


def test_send_without_smtp_settings_is_400(api_client, store, auth):
    response = api_client.post(
        f"/api/v1/stores/{store.pk}/email/send",
        {"email": "a@example.org", "subject": "s", "body": "b"}, format="json", **auth,
    )
    assert response.status_code == 400
    assert not EmailMessage.objects.exists()


def test_send_goes_through_the_stores_smtp_server(api_client, store, auth, store_smtp, clock):
    _put(api_client, store, auth, port=store_smtp.port)
    response = api_client.post(
        f"/api/v1/stores/{store.pk}/email/send",
        {"email": "reader@example.org", "subject": "Your order", "body": "It ships today."},
        format="json", **auth,
    )
    assert response.status_code == 200, response.content
    assert email_messages_send_due() == 1
    [envelope] = store_smtp.mailbox.received
    assert envelope.rcpt_tos == ["reader@example.org"]
    assert envelope.mail_from == "shop@montego.example"
    assert envelope.message["Subject"] == "Your order"
    assert envelope.message.get_content().strip() == "It ships today."


def test_rule_mail_uses_the_stores_smtp_server_when_set(api_client, store, auth, store_smtp, smtp_server, clock):
    # smtp_server is FlashPay's own (Django settings); store_smtp is the merchant's.
    _put(api_client, store, auth, port=store_smtp.port)
    email_rule_create(store=store, trigger="InvoiceSettled", to="owner@montego.example", subject="Paid {Invoice.Id}", body="b")
    email_rule_create(store=StoreFactory(), trigger="InvoiceSettled", to="other@x.example", subject="s", body="b")
    deliver(invoice_event(store_id=store.pk, invoice_id="INV5"))
    email_messages_send_due()
    [envelope] = store_smtp.mailbox.received
    assert envelope.message["Subject"] == "Paid INV5"
    assert smtp_server.mailbox.received == []


def test_wrong_store_password_is_retried_not_lost(api_client, store, auth, store_smtp, clock):
    _put(api_client, store, auth, port=store_smtp.port)
    StoreEmailSettings.objects.update(password_sealed=b"\0" * 40)  # cannot be decrypted
    email_rule_create(store=store, trigger="InvoiceSettled", to="owner@montego.example", subject="s", body="b")
    deliver(invoice_event(store_id=store.pk))
    email_messages_send_due()
    message = EmailMessage.objects.get()
    assert message.state == "pending" and "decrypted" in message.last_error
    assert store_smtp.mailbox.received == []


@pytest.mark.parametrize("role,allowed", [("Owner", True), ("Manager", False), ("Employee", False), ("Guest", False)])
def test_role_matrix(api_client, store, role, allowed):
    user = UserFactory()
    add_member(store=store, user=user, role=role)
    auth = token_header(create_api_key(user=user)[1])
    codes = [
        api_client.get(f"/api/v1/stores/{store.pk}/email", **auth).status_code,
        _put(api_client, store, auth).status_code,
    ]
    assert codes == ([200, 200] if allowed else [403, 403])
    assert StoreEmailSettings.objects.exists() is allowed


def test_other_store_is_refused(api_client, auth):
    other = StoreFactory(owner=UserFactory())
    assert api_client.get(f"/api/v1/stores/{other.pk}/email", **auth).status_code == 403
    response = api_client.post(
        f"/api/v1/stores/{other.pk}/email/send", {"email": "a@example.org", "subject": "s", "body": "b"},
        format="json", **auth,
    )
    assert response.status_code == 403
    assert not EmailMessage.objects.exists()
