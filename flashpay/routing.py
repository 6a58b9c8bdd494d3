"""Greenfield paths with a trailing slash, as BTCPay answers them.

ASP.NET Core's routing matches a template with or without a trailing slash, so BTCPay answers
``/api/v1/stores/{storeId}/invoices/`` like ``.../invoices``, and Greenfield clients send both
(btcpay-python-sdk builds ``/stores/{storeId}/invoices/``). Django matches exactly; this middleware
drops the slash from an ``/api/v1/`` path that resolves only without it.
"""
from __future__ import annotations

from django.urls import get_urlconf
from django.urls.base import is_valid_path

PREFIX = "/api/v1/"


class GreenfieldTrailingSlashMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path.startswith(PREFIX) and path.endswith("/") and len(path) > len(PREFIX):
            urlconf = getattr(request, "urlconf", None) or get_urlconf()
            stripped = path.rstrip("/")
            if not is_valid_path(path, urlconf) and is_valid_path(stripped, urlconf):
                request.path_info = stripped
        return self.get_response(request)
