"""A store's SMTP server with STARTTLS and login: the password goes only over TLS, certificates are checked."""
from __future__ import annotations

import datetime
import ssl

import pytest
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from invoices.emails.models import EmailMessage
from invoices.emails.services import (
    email_messages_send_due,
    email_rule_create,
    store_email_settings_update,
)
from tests.factories import StoreFactory
from tests.invoices.emails.conftest import SmtpServer, _free_port, deliver, invoice_event

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def self_signed_tls(tmp_path_factory) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("smtp.test")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("smtp-tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@pytest.fixture
def tls_smtp(self_signed_tls):
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login.decode(), auth_data.password.decode(), session.ssl is not None))
        ok = (auth_data.login, auth_data.password) == (b"shop", b"smtp-pass-123")
        return AuthResult(success=ok)

    server = SmtpServer(
        _free_port(), tls_context=self_signed_tls, require_starttls=True, auth_required=True,
        auth_require_tls=True, authenticator=authenticator,
    )
    server.logins = logins
    server.start()
    yield server
    server.stop()


def _setup(store, server, *, disable_certificate_check: bool):
    store_email_settings_update(
        store=store, from_email="shop@montego.example", server="127.0.0.1", port=server.port,
        login="shop", password="smtp-pass-123", disable_certificate_check=disable_certificate_check,
    )
    email_rule_create(store=store, trigger="InvoiceSettled", to="owner@montego.example", subject="s", body="b")


def test_starttls_then_login_when_the_merchant_accepts_a_self_signed_certificate(tls_smtp, clock):
    store = StoreFactory()
    _setup(store, tls_smtp, disable_certificate_check=True)
    deliver(invoice_event(store_id=store.pk))
    assert email_messages_send_due() == 1
    assert [e.rcpt_tos for e in tls_smtp.mailbox.received] == [["owner@montego.example"]]
    assert tls_smtp.logins == [("shop", "smtp-pass-123", True)]  # over TLS only
    assert EmailMessage.objects.get().state == "sent"


def test_untrusted_certificate_is_refused_by_default(tls_smtp, clock):
    store = StoreFactory()
    _setup(store, tls_smtp, disable_certificate_check=False)
    deliver(invoice_event(store_id=store.pk))
    email_messages_send_due()
    message = EmailMessage.objects.get()
    assert message.state == "pending" and "CERTIFICATE_VERIFY_FAILED" in message.last_error
    assert tls_smtp.mailbox.received == [] and tls_smtp.logins == []  # the password never left
