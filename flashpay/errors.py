"""Domain errors and the one DRF exception handler that maps every error to a stable JSON shape.

Shapes follow BTCPay's Greenfield API: validation errors are HTTP 400 with a JSON array of
``{path, message}``; every other error is ``{code, message}``.
"""
from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """Base of all domain errors: a machine-readable code, a human message and an HTTP status."""

    code = "application-error"
    status_code = 400

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code


class NotFound(ApplicationError):
    code = "not-found"
    status_code = 404


class Conflict(ApplicationError):
    code = "conflict"
    status_code = 409


class InsufficientFunds(ApplicationError):
    code = "insufficient-funds"
    status_code = 400


class FieldError(ApplicationError):
    """A validation error on one input field; rendered as the Greenfield ``[{path, message}]``."""

    code = "validation-error"
    status_code = 400

    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path


def _flatten(detail, path: str = "") -> list[dict[str, str]]:
    """Turn DRF's nested error detail into Greenfield's flat list of ``{path, message}``."""
    if isinstance(detail, dict):
        out: list[dict[str, str]] = []
        for key, value in detail.items():
            if isinstance(key, int):  # DRF keys a list's item errors by index: "items[0].amount"
                out.extend(_flatten(value, f"{path}[{key}]"))
                continue
            key = "" if key == "non_field_errors" else str(key)
            sub = f"{path}.{key}" if path and key else (key or path)
            out.extend(_flatten(value, sub))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [{"path": path, "message": str(item)} for item in detail]
        out = []
        for index, item in enumerate(detail):
            if isinstance(item, dict | list):
                out.extend(_flatten(item, f"{path}[{index}]"))
            elif item:
                out.append({"path": path, "message": str(item)})
        return out
    return [{"path": path, "message": str(detail)}]


def validation_response(errors: list[dict[str, str]]) -> Response:
    return Response(errors, status=status.HTTP_400_BAD_REQUEST)


def api_exception_handler(exc, context):
    if isinstance(exc, FieldError):
        return validation_response([{"path": exc.path, "message": exc.message}])
    if isinstance(exc, ApplicationError):
        response = Response({"code": exc.code, "message": exc.message}, status=exc.status_code)
        retry_after = getattr(exc, "retry_after", None)  # a rate limit's (flashpay.ratelimit.RateLimited)
        if retry_after is not None:
            response["Retry-After"] = str(retry_after)
        return response
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
        return validation_response(_flatten(detail))
    if isinstance(exc, exceptions.ValidationError):
        return validation_response(_flatten(exc.detail))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code = "unauthenticated"
    elif isinstance(exc, exceptions.PermissionDenied):
        code = getattr(exc, "greenfield_code", "missing-permission")
    elif isinstance(exc, exceptions.NotFound):
        code = "not-found"
    elif isinstance(exc, exceptions.ParseError):
        code = "invalid-json"
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    response.data = {"code": str(code).replace("_", "-"), "message": str(message)}
    return response
