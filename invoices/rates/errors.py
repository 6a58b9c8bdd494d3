"""Errors of the rates package: what callers see (4xx) and what a failing source raises."""
from __future__ import annotations

from flashpay.errors import ApplicationError


class RateUnavailable(ApplicationError):
    """No valid (fresh) rate exists for a pair; the message names the pair.

    422: the request is well formed but cannot be served now. Greenfield reserves 400 for the
    ``[{path, message}]`` validation shape, so this ``{code, message}`` error does not use it.
    """

    code = "rate-unavailable"
    status_code = 422


class InvalidCurrencyPair(ApplicationError):
    code = "invalid-currency-pair"
    status_code = 422


class RateSourceError(Exception):
    """A source could not be fetched or its answer was not what its API documents.

    Internal: the fetcher logs it and keeps the previous good rates; it never reaches a client.
    """

    def __init__(self, source: str, message: str):
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message
