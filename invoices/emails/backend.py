"""SMTP connection to a store's own mail server, negotiated like BTCPay's (TLS on 465, else STARTTLS when offered)."""
from __future__ import annotations

import smtplib
import ssl

from django.core.mail.backends.smtp import EmailBackend


class StoreSmtpBackend(EmailBackend):
    """Django's SMTP backend with automatic TLS and an optional "no certificate check".

    Port 465 is implicit TLS; any other port upgrades with STARTTLS whenever the server offers it,
    so credentials are not sent in clear to a server that can encrypt.
    """

    def __init__(self, *, disable_certificate_check: bool = False, **kwargs):
        super().__init__(use_tls=False, use_ssl=False, **kwargs)
        self.disable_certificate_check = disable_certificate_check

    @property
    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.disable_certificate_check:
            # The merchant's explicit choice (self-signed SMTP servers); off by default.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def open(self) -> bool:
        if self.connection:
            return False
        if self.port == 465:
            self.connection = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.ssl_context
            )
        else:
            self.connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            self.connection.ehlo()
            if self.connection.has_extn("starttls"):
                self.connection.starttls(context=self.ssl_context)
                self.connection.ehlo()
        if self.username and self.password:
            self.connection.login(self.username, self.password)
        return True
