"""Exchange rates: source adapters, the cached background fetcher, cross rates and the store spread.

Reads go through :mod:`invoices.rates.selectors` (``rate_get``, ``rates_get``), the refresh through
:mod:`invoices.rates.services` (``rates_refresh``), run every 30 s by :mod:`invoices.rates.tasks`.
"""
