"""A real SMTP server on loopback (aiosmtpd) that Django's SMTP backend talks to."""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage as ParsedMessage

import pytest
from aiosmtpd.controller import Controller

from tests.invoices.webhooks.conftest import clock, deliver, invoice_event  # noqa: F401 (fixtures)


@dataclass
class Envelope:
    mail_from: str
    rcpt_tos: list[str]
    message: ParsedMessage


@dataclass
class Mailbox:
    received: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.received.append(
            Envelope(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                message=message_from_bytes(envelope.content, policy=policy.default),
            )
        )
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_port() -> int:
    return _free_port()


@pytest.fixture
def smtp_settings(settings, smtp_port):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "FlashPay <noreply@flashpay.example>"
    return settings


class SmtpServer:
    """A loopback SMTP server that can go down and come back (a fresh aiosmtpd Controller each time)."""

    def __init__(self, port: int, **smtp_options):
        self.port = port
        self.mailbox = Mailbox()
        self.smtp_options = smtp_options  # aiosmtpd.smtp.SMTP options: tls_context, authenticator...
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **self.smtp_options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_server(smtp_settings, smtp_port):
    server = SmtpServer(smtp_port)
    server.start()
    yield server
    server.stop()
