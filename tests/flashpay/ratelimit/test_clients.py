"""Which address the per-IP limits count: REMOTE_ADDR, or what a trusted proxy forwarded."""
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from flashpay.ratelimit.clients import client_ip


def _ip(remote: str, forwarded: str | None = None) -> str | None:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_ip(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_forwards(settings):
    settings.TRUSTED_PROXIES = []
    assert _ip("198.51.100.7", "203.0.113.1") == "198.51.100.7"


def test_the_rightmost_untrusted_hop_is_the_client(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "2001:db8::1"]
    assert _ip("10.1.2.3", "198.51.100.7") == "198.51.100.7"
    assert _ip("10.1.2.3", "203.0.113.1, 198.51.100.7") == "198.51.100.7"  # a spoofed first hop is skipped
    assert _ip("10.1.2.3", "198.51.100.7, 10.9.9.9") == "198.51.100.7"  # past a second trusted proxy
    assert _ip("2001:db8::1", "2001:db8::42") == "2001:db8::42"
    assert _ip("10.1.2.3") == "10.1.2.3"  # nothing forwarded: the proxy itself
    assert _ip("10.1.2.3", "not-an-address") == "10.1.2.3"
    assert _ip("198.51.100.9", "203.0.113.1") == "198.51.100.9"  # not a trusted peer


def test_a_malformed_trusted_proxy_entry_is_a_configuration_error(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/33"]
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        _ip("10.1.2.3", "198.51.100.7")
