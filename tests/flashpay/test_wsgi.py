"""The web process hands Django the request, not the process environment."""
from __future__ import annotations

import io

import pytest

from flashpay.wsgi import request_only


@pytest.fixture
def seen(monkeypatch):
    monkeypatch.setenv("FLASHPAY_TEST_SECRET", "do-not-leak")
    monkeypatch.setenv("HTTP_HOST", "from-the-environment")
    captured = {}

    def app(environ, start_response):
        captured.update(environ)
        start_response("200 OK", [])
        return [b""]

    return request_only(app), captured


def test_process_variables_a_server_copied_in_are_dropped_request_ones_kept(seen):
    app, captured = seen
    environ = {
        "FLASHPAY_TEST_SECRET": "do-not-leak",  # as granian/wsgiref copy os.environ in
        "REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/health", "REMOTE_ADDR": "203.0.113.9",
        "HTTP_HOST": "pay.example.com", "SERVER_NAME": "pay.example.com", "SERVER_PORT": "443",
        "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "https",
    }
    app(environ, lambda status, headers: None)
    assert "FLASHPAY_TEST_SECRET" not in captured
    assert captured["HTTP_HOST"] == "pay.example.com"  # a request header always stays
    assert (captured["REQUEST_METHOD"], captured["REMOTE_ADDR"], captured["wsgi.url_scheme"]) == ("GET", "203.0.113.9", "https")
